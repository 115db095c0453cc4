# Two entry points for a fresh machine: `make serve` and `make test`. Each builds what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP_SERVE := $(VENV)/.stamp-serve
STAMP_DEV   := $(VENV)/.stamp-dev

.PHONY: serve test system-deps lint typecheck pytest bench default-model clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The service alone: no torch.
$(STAMP_SERVE): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[serve]"
	touch $@

# Everything the tests need: service + training/export (torch 2.13.0, CPU build) + dev tools.
$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[serve,train,dev,batch]"
	touch $@ $(STAMP_SERVE)

serve: $(STAMP_SERVE)
	$(PY) -m service $(ARGS)

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy losses service model_export score_batch

pytest: $(STAMP_DEV) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Debian packages some tests drive for real (chromium, prometheus, docker-compose): installed when missing.
system-deps:
	bash scripts/system-deps.sh

test: system-deps lint typecheck pytest

bench: $(STAMP_DEV)
	$(PY) benchmarks/losses.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/service.py

# Reproduces the committed default model (about 25 minutes on an idle core, 44 on the shared 2-core machine).
default-model: $(STAMP_DEV)
	$(PY) -m model_export default-model --out models

clean:
	rm -rf $(VENV) build *.egg-info

# Docker: build the cpu + lb images on a locally made base, run the compose stack, check it, take it down.
# Needs a running Docker engine, docker-compose and the default model (see docs/deployment.md).
.PHONY: compose-smoke
compose-smoke: $(STAMP_DEV)
	bash scripts/compose-smoke.sh
