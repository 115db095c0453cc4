#!/usr/bin/env bash
# End-to-end check of the deployment on this machine (`make compose-smoke`):
#   1. a Debian base image made locally (deploy/make-base-image.sh: no registry pull),
#   2. the `cpu` and `lb` images built from it,
#   3. docker-compose up: one service replica behind nginx, on free ports of 127.0.0.1,
#   4. readiness, a detection (PNG), a scoring request (checked against the focal loss computed here, plus a bad
#      request that must be a 4xx), a gRPC health check through the lb,
#   5. scaled to two replicas: both must answer REST and gRPC traffic sent through the lb (nginx's access log),
#   6. stop: SIGTERM, drain; every container must exit 0 (no SIGKILL after stop_grace_period, no OOM kill),
#   7. down (always, also on failure, with the logs printed first).
# Needs: a running Docker engine, docker-compose >= 1.28, debootstrap (root) unless BASE_IMAGE exists, the model
# repository (./models with detector/1/model.onnx, or FOCALSERVE_MODELS), and .venv (grpcio for the gRPC checks).
#
# Environment: BASE_IMAGE (default focalserve-base:bookworm, made if missing), FOCALSERVE_MODELS, PYTHON,
# FOCALSERVE_BUILD_NETWORK (default host: the build reaches the package index like the host does),
# SMOKE_PROJECT (compose project name, default focalserve-smoke), SMOKE_KEEP=1 (leave the stack up),
# SMOKE_GRPC=0 (skip the gRPC checks), SMOKE_TRAIN=1 (also build the train image and serve a tiny model that
# the compose train service trains and exports; TORCH_INDEX_URL is passed on to that build when set).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
phase() {  # phase NAME: prints the seconds since the start, then NAME
    printf '[smoke %4ss] %s\n' "$(($(date +%s) - start))" "$1"
}

export BASE_IMAGE="${BASE_IMAGE:-focalserve-base:bookworm}"
export FOCALSERVE_BUILD_NETWORK="${FOCALSERVE_BUILD_NETWORK:-host}"
export FOCALSERVE_MODELS="${FOCALSERVE_MODELS:-$PWD/models}"
export FOCALSERVE_PUBLISH_ADDRESS=127.0.0.1
PYTHON="${PYTHON:-.venv/bin/python}"
project="${SMOKE_PROJECT:-focalserve-smoke}"
compose=(docker-compose -p "$project" -f docker-compose.yml)
client=("$PYTHON" deploy/smoke_client.py)

docker info >/dev/null 2>&1 || { echo "no Docker engine answers (start dockerd first)" >&2; exit 2; }
command -v docker-compose >/dev/null || { echo "docker-compose missing (apt-get install docker-compose)" >&2; exit 2; }
[[ "${SMOKE_TRAIN:-0}" == 1 || -f "$FOCALSERVE_MODELS/detector/1/model.onnx" ]] || {
    echo "no model at $FOCALSERVE_MODELS/detector/1/model.onnx: make default-model first" >&2
    exit 2
}

# Two free ports on 127.0.0.1 for the lb (REST, gRPC), so that a service already on 8000/8001 is left alone.
read -r http_port grpc_port < <("$PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')
export FOCALSERVE_PUBLISH_HTTP_PORT="$http_port" FOCALSERVE_PUBLISH_GRPC_PORT="$grpc_port"
url="http://127.0.0.1:$http_port"
target="127.0.0.1:$grpc_port"

cleanup() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "--- smoke failed (rc=$rc); last logs:" >&2
        "${compose[@]}" ps >&2 || true
        "${compose[@]}" logs --no-color --tail=60 >&2 || true
    fi
    if [[ "${SMOKE_KEEP:-0}" != 1 ]]; then
        phase "down"
        "${compose[@]}" down --volumes --remove-orphans --timeout 40 >/dev/null 2>&1 || true
    fi
    [[ -n "${trained_models:-}" ]] && rm -rf "$trained_models"
    printf '[smoke %4ss] finished rc=%s\n' "$(($(date +%s) - start))" "$rc"
}
trap cleanup EXIT

phase "base image $BASE_IMAGE"
deploy/make-base-image.sh "$BASE_IMAGE"

build() {  # build STAGE TAG [extra docker build args]: fails loudly, shows the log only on failure
    local stage=$1 tag=$2 log
    shift 2
    log=$(mktemp)
    if ! docker build --network "$FOCALSERVE_BUILD_NETWORK" --build-arg BASE_IMAGE="$BASE_IMAGE" \
            --target "$stage" --tag "$tag" "$@" . >"$log" 2>&1; then
        tail -40 "$log" >&2
        rm -f "$log"
        echo "docker build --target $stage failed" >&2
        return 1
    fi
    rm -f "$log"
    docker image inspect "$tag" --format "  $tag: {{.Size}} bytes, user {{.Config.User}}"
}

phase "build focalserve:cpu and focalserve-lb (BASE_IMAGE=$BASE_IMAGE)"
build cpu focalserve:cpu
build lb focalserve-lb:latest

if [[ "${SMOKE_TRAIN:-0}" == 1 ]]; then
    # The one-shot train service, through compose (its volume and user), on a tiny budget: a few images and
    # iterations, exported into a fresh repository that the rest of the smoke then serves.
    phase "build focalserve:train (TORCH_INDEX_URL=${TORCH_INDEX_URL-<Dockerfile default>})"
    build train focalserve:train ${TORCH_INDEX_URL+--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL"}
    phase "train + export a tiny model with the train service"
    trained_models="$(mktemp -d /tmp/focalserve-smoke-models.XXXXXX)"
    export FOCALSERVE_MODELS="$trained_models"
    chown 10001:10001 "$FOCALSERVE_MODELS" 2>/dev/null || chmod 0777 "$FOCALSERVE_MODELS"
    "${compose[@]}" --profile train run --rm --no-deps --entrypoint sh train -c '
        set -e
        python -m model_export generate --out /tmp/data/train --num-images 32 --seed 0 >/dev/null
        python -m model_export generate --out /tmp/data/test --num-images 16 --seed 2 >/dev/null
        python -m model_export train --train /tmp/data/train/instances.json --out /tmp/run \
            --epochs 1 --max-iterations 3 --batch-size 8 --eval-every 0 >/dev/null
        python -m model_export export --run /tmp/run --eval /tmp/data/test/instances.json --eval-seed 2 \
            --repository /models >/dev/null' 2>&1 | sed 's/^/  /'
    [[ "${SMOKE_TRAIN:-0}" == 1 || -f "$FOCALSERVE_MODELS/detector/1/model.onnx" ]] || { echo "the train service wrote no model" >&2; exit 1; }
    ls -ln "$FOCALSERVE_MODELS/detector/1" | sed 's/^/  /'
fi

phase "up: 1 replica behind the lb on $url (REST) and $target (gRPC)"
"${compose[@]}" up -d --no-build --quiet-pull 2>&1 | sed 's/^/  /'
"${client[@]}" ready --url "$url" --timeout 180

phase "requests through the lb"
"${client[@]}" detect --url "$url"
"${client[@]}" score --url "$url"
if [[ "${SMOKE_GRPC:-1}" == 1 ]]; then
    "${client[@]}" grpc-health --target "$target"
else
    target=""
fi

phase "scale to 2 replicas"
"${compose[@]}" up -d --no-build --no-recreate --scale service=2 2>&1 | sed 's/^/  /'
# Wait until both replicas report healthy (docker's own health check), then check that both get traffic.
deadline=$(($(date +%s) + 180))
while :; do
    healthy=$(docker ps --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=service" --filter health=healthy -q | wc -l)
    [[ $healthy -ge 2 ]] && break
    [[ $(date +%s) -lt $deadline ]] || { echo "only $healthy healthy replica(s) after 180 s" >&2; exit 1; }
    sleep 2
done
"${client[@]}" balance --url "$url" --target "$target" --requests 40
# Which replica answered: nginx's access log ("upstream=<address>"), our REST requests tagged with balance=1.
count_upstreams() {  # count_upstreams PATTERN PORT: distinct replicas in the lb log lines holding PATTERN
    "${compose[@]}" logs --no-color lb | grep -F "$1" | grep -o "upstream=[0-9.]*:$2" | sort | uniq -c
}
rest=$(count_upstreams 'GET /v2/health/ready?balance=1 HTTP/1.1" 200' 8000)
echo "balance: REST answered by:" $rest
[[ $(wc -l <<<"$rest") -ge 2 ]] || { echo "REST traffic did not reach both replicas" >&2; exit 1; }
if [[ -n "$target" ]]; then
    grpc=$(count_upstreams 'HTTP/2.0" 200' 8001)
    echo "balance: gRPC answered by:" $grpc
    [[ $(wc -l <<<"$grpc") -ge 2 ]] || { echo "gRPC traffic did not reach both replicas" >&2; exit 1; }
fi
"${client[@]}" detect --url "$url"

phase "resource limits and users as deployed"
for id in $(docker ps --filter "label=com.docker.compose.project=$project" -q); do
    docker inspect "$id" --format \
        '  {{.Name}}: user={{.Config.User}} read_only={{.HostConfig.ReadonlyRootfs}} cpus={{.HostConfig.NanoCpus}} memory={{.HostConfig.Memory}} health={{.State.Health.Status}}'
done

[[ "${SMOKE_KEEP:-0}" == 1 ]] && { phase "left up (SMOKE_KEEP=1): ${compose[*]} down"; exit 0; }
phase "stop: SIGTERM, drain, exit (stop_grace_period)"
ids=$(docker ps --filter "label=com.docker.compose.project=$project" -q)
"${compose[@]}" stop --timeout 40 2>&1 | sed 's/^/  /'
for id in $ids; do
    read -r name code oom < <(docker inspect "$id" --format '{{.Name}} {{.State.ExitCode}} {{.State.OOMKilled}}')
    echo "  $name exited $code (oom killed: $oom)"
    # 0: a clean exit after the drain. nginx exits 0 on SIGQUIT; 137 would mean docker had to SIGKILL.
    [[ $code == 0 && $oom == false ]] || { echo "$name did not stop cleanly" >&2; exit 1; }
done
