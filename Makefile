# edgefill: `make demo`, `make test`, `make bench`, `make lint`. Each sets itself up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
ONLY ?=
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help bootstrap lint format test test-fast ci-fresh ci-fresh-warm wheelhouse bench demo demo-down demo-chaos clean

help:
	@echo "make demo       bring up the local lab (moto, control plane, appliances) and play titles"
	@echo "make demo-chaos stop, drain, kill and corrupt parts of the running lab; show it copes"
	@echo "make demo-down  stop everything the demo started"
	@echo "make test       lint, then the whole test suite"
	@echo "make ci-fresh   make test as a new user would: fresh clone, every cache empty"
	@echo "make wheelhouse the appliance wheelhouse (agent + locked deps) in dist/wheelhouse"
	@echo "make bench      every benchmark (ONLY=<name> for one)"
	@echo "make lint       ruff format --check, ruff check, mypy, import-linter layer contracts"

bootstrap:
	@bash scripts/bootstrap.sh >/dev/null

lint: bootstrap
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy
	.venv/bin/lint-imports --no-cache --no-logo
	$(PY) -m bandit -q -c pyproject.toml -r control_plane appliance_agent edgefill_contracts edgefill_build infra

format: bootstrap
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) -m pytest -n auto --dist loadgroup -q

# A fresh clone of HEAD with HOME, XDG_CACHE_HOME, EDGEFILL_CACHE_DIR and UV_CACHE_DIR on new
# empty directories, then `bash .ci/run`. ci-fresh-warm reuses this user's caches.
ci-fresh:
	bash scripts/ci_fresh.sh

ci-fresh-warm:
	bash scripts/ci_fresh.sh --warm

wheelhouse: bootstrap
	$(PY) -m edgefill_build.wheelhouse --output dist/wheelhouse

test-fast: bootstrap
	$(PY) -m pytest -n auto --dist loadgroup -q -m "not podman and not e2e"

bench: bootstrap
	$(PY) -m bench.run $(if $(ONLY),--only $(ONLY),)

demo: bootstrap
	$(PY) -m lab.demo up

demo-down: bootstrap
	$(PY) -m lab.demo down

demo-chaos: bootstrap
	$(PY) -m lab.demo chaos

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache bench/results lab-report
