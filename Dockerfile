# focalserve images. One file, several targets (always name one with --target):
#
#   cpu    the service on onnxruntime (CPU)                  docker build --target cpu   -t focalserve:cpu .
#   gpu    the service on onnxruntime-gpu (CUDA 13, cuDNN 9) docker build --target gpu   -t focalserve:gpu .
#   lb     nginx in front of N replicas (HTTP/1.1 + gRPC)    docker build --target lb    -t focalserve:lb .
#   train  one-shot training + ONNX export (torch CPU)       docker build --target train -t focalserve:train .
#
# Works with BuildKit and with the classic builder (which builds every stage above the target: the stages are
# ordered so that `cpu` needs nothing after it). No compiler is installed anywhere: every dependency ships
# manylinux wheels. Final images run as the unprivileged user 10001.
#
# Air-gapped sites: BASE_IMAGE / GPU_BASE_IMAGE name a local mirror, the build args PIP_INDEX_URL /
# PIP_EXTRA_INDEX_URL a local package index; wheels dropped into deploy/wheels/ are preferred by the `train`
# build (e.g. the CPU build of torch, which PyPI does not carry).

# Debian bookworm with Python 3.11 at /usr/bin/python3 or /usr/local/bin/python3, python3-venv and CA
# certificates. The official image fits; so does a debootstrap'ed one (scripts/compose-smoke.sh makes one).
ARG BASE_IMAGE=python:3.11-slim-bookworm
# onnxruntime-gpu 1.31 (PyPI) is built against CUDA 13.x and cuDNN 9.x (its `cuda` extra pins
# nvidia-cuda-runtime~=13.0, its `cudnn` extra nvidia-cudnn-cu13~=9.0) and needs glibc >= 2.28: Ubuntu 24.04.
# CUDA 13 needs an NVIDIA driver >= 580 on the host.
ARG GPU_BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
ARG ORT_GPU_VERSION=1.31.1
# Where `train` finds the CPU build of torch; empty = only PyPI (+ deploy/wheels/).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG APP_UID=10001

# ---------------------------------------------------------------------------------------------------- base
FROM ${BASE_IMAGE} AS base
ARG APP_UID
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp
RUN groupadd --system --gid "${APP_UID}" focalserve \
 && useradd --system --uid "${APP_UID}" --gid "${APP_UID}" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin focalserve

# ------------------------------------------------------------------------------------------- build (CPU)
FROM base AS build-cpu
# pip reads these from the environment: a local index for air-gapped builds (unset: pip's own settings).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
WORKDIR /src
COPY deploy/pyproject_requirements.py pyproject.toml README.md ./
# Dependencies first, in a layer of their own (reused while pyproject.toml is unchanged), then the project.
RUN python3 -m venv /opt/venv \
 && python3 pyproject_requirements.py pyproject.toml serve > requirements.txt \
 && pip install --requirement requirements.txt
# Only what the service needs: model_export (the torch side) is not even copied in.
COPY losses/ losses/
COPY service/ service/
RUN pip install --no-deps ".[serve]" \
 && pip check \
 && pip uninstall --yes pip setuptools \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# ----------------------------------------------------------------------------------------- cpu (service)
FROM base AS cpu
LABEL org.opencontainers.image.title="focalserve" \
      org.opencontainers.image.description="Focal-loss detector inference + loss scoring (ONNX Runtime, CPU)"
COPY --from=build-cpu /opt/venv /opt/venv
# The model repository is mounted here (read-only); KServe's storage initializer uses /mnt/models.
ENV FOCALSERVE_HOST=0.0.0.0 \
    FOCALSERVE_HTTP_PORT=8000 \
    FOCALSERVE_GRPC_PORT=8001 \
    FOCALSERVE_MODEL_REPOSITORY=/models \
    FOCALSERVE_EXECUTION_PROVIDERS=cpu
WORKDIR /tmp
ARG APP_UID
# Numeric, so that Kubernetes runAsNonRoot can verify it.
USER ${APP_UID}:${APP_UID}
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('FOCALSERVE_HTTP_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]

# ------------------------------------------------------------------------------------- lb (load balancer)
FROM base AS lb
RUN apt-get update \
 && apt-get install --yes --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d
COPY deploy/nginx.conf /etc/nginx/nginx.conf
ARG APP_UID
# Numeric, so that Kubernetes runAsNonRoot can verify it.
USER ${APP_UID}:${APP_UID}
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-e", "stderr", "-g", "daemon off;"]

# ------------------------------------------------------------------------------ train (one-shot, torch)
FROM base AS build-train
ARG TORCH_INDEX_URL
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
WORKDIR /src
COPY deploy/wheels/ /wheels/
COPY deploy/pyproject_requirements.py pyproject.toml README.md ./
# torch==2.13.0 from the pinned extra; the CPU build is preferred (deploy/wheels/ or TORCH_INDEX_URL).
RUN python3 -m venv /opt/venv \
 && python3 pyproject_requirements.py pyproject.toml train > requirements.txt \
 && pip install --find-links /wheels ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        --requirement requirements.txt \
 && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
COPY losses/ losses/
COPY model_export/ model_export/
COPY service/ service/
RUN pip install --no-deps ".[train]" \
 && pip check \
 && pip uninstall --yes pip

FROM base AS train
COPY --from=build-train /opt/venv /opt/venv
WORKDIR /tmp
ARG APP_UID
# Numeric, so that Kubernetes runAsNonRoot can verify it.
USER ${APP_UID}:${APP_UID}
ENTRYPOINT ["python", "-m", "model_export"]

# -------------------------------------------------------------------------------------------- build (GPU)
FROM ${GPU_BASE_IMAGE} AS build-gpu
ARG ORT_GPU_VERSION
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/pyproject_requirements.py pyproject.toml README.md ./
RUN python3 -m venv /opt/venv \
 && python3 pyproject_requirements.py pyproject.toml gpu > requirements.txt \
 && /opt/venv/bin/pip install --requirement requirements.txt \
        "onnxruntime-gpu==${ORT_GPU_VERSION}"
COPY losses/ losses/
COPY service/ service/
RUN /opt/venv/bin/pip install --no-deps ".[gpu]" \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# ----------------------------------------------------------------------------------------- gpu (service)
FROM ${GPU_BASE_IMAGE} AS gpu
ARG APP_UID
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${APP_UID}" focalserve \
 && useradd --system --uid "${APP_UID}" --gid "${APP_UID}" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin focalserve
COPY --from=build-gpu /opt/venv /opt/venv
ENV FOCALSERVE_HOST=0.0.0.0 \
    FOCALSERVE_HTTP_PORT=8000 \
    FOCALSERVE_GRPC_PORT=8001 \
    FOCALSERVE_MODEL_REPOSITORY=/models \
    FOCALSERVE_EXECUTION_PROVIDERS=cuda,cpu \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /tmp
# Numeric, so that Kubernetes runAsNonRoot can verify it.
USER ${APP_UID}:${APP_UID}
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('FOCALSERVE_HTTP_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]
