# The verbs: setup images run test lint bench proto (and opa, srt, setup-test). `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOME_DIR ?= $(HOME)/.nexflow
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: setup setup-test opa srt images deploy-images helm run test lint fmt bench proto proto-check test-fast

# `setup` installs what `make run` needs; `setup-test` adds the real parts the tests drive
# (PostgreSQL, Chromium, OPA built from source). `nexflow up --opa` needs `make opa` first.
setup: $(VENV)/.setup-done
$(VENV)/.setup-done: uv.lock pyproject.toml */pyproject.toml scripts/setup.sh
	./scripts/setup.sh run
	@touch $@

setup-test: $(VENV)/.setup-test-done
$(VENV)/.setup-test-done: $(VENV)/.setup-done scripts/install-opa.sh
	./scripts/setup.sh test
	@touch $@

opa: setup
	./scripts/install-opa.sh

# The Docker engine (started if none answers) and the skill images (skipped when up to date).
images: setup
	./scripts/start-dockerd.sh
	./scripts/build-images.sh

# The images of a deployment (deploy/compose.yaml, deploy/helm/nexflow): control plane,
# executor, gateway, PostgreSQL, OPA. Not on `make run`'s path: they take minutes the
# first time (OPA from source, PostgreSQL from Debian), and `nexflow up` needs none.
deploy-images: setup
	./scripts/start-dockerd.sh
	./scripts/build-images.sh base
	./scripts/build-deploy-images.sh

# The pinned Helm, built from the Go module proxy into the cache (the chart tests use it).
helm: setup
	./scripts/install-helm.sh

run: setup images
	$(VENV)/bin/nexflow up --home $(HOME_DIR) --port $(PORT)

test: setup-test images proto-check lint
	./scripts/test.sh $(PYTEST_ARGS)

test-fast: setup-test
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy common/src control-plane/src executor/src gateway/src registry/src

fmt: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Anthropic's sandbox runtime (`srt`, pinned in scripts/srt/), which bench/srt.py runs beside Nexflow.
srt: setup
	./scripts/install-srt.sh

bench: setup-test images srt
	$(PY) bench/run.py

proto: setup
	./scripts/gen-proto.sh

# Fails when the committed generated code differs from what `make proto` produces.
proto-check: setup
	./scripts/check-proto.sh
