# Every target sets up what it needs; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HELM_VENV := .venv-helm
PYTEST_ARGS ?=
DEMO_ARGS ?=
# The integration tests that run a second time on the real control plane (make real-apiserver).
REAL_TESTS ?= tests/integration
# make test runs both passes at the same time (TEST_ORDER=--one-after-the-other runs them in
# order). Each pass is one process by default: the two together keep two cores busy already, and
# more workers only added CPU contention and timing failures (measured, docs/local-control-plane.md).
# On a machine with more cores, "-n 2 --dist loadfile" spreads a pass's files over pytest-xdist
# workers, each with its own control plane and brokers.
TEST_ORDER ?=
EMULATOR_WORKERS ?=
REAL_WORKERS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,local]"
	touch $(STAMP)

.PHONY: setup
setup: system-deps $(STAMP) helm-venv kafka-jars ## install system packages, create the virtualenv(s), install the project

.PHONY: system-deps
system-deps: ## system packages the tests use (redis-server, git, Java, Maven, prometheus), via apt when missing
	@bash scripts/system-deps.sh

.PHONY: kafka-jars
kafka-jars: system-deps ## fetch the Apache Kafka broker's jars with Maven into ~/.cache/naksha (once per version)
	@bash scripts/fetch-kafka.sh

.PHONY: kafka
kafka: $(STAMP) kafka-jars ## run an Apache Kafka broker (KRaft, one node) on a free loopback port, in the foreground
	$(BIN)/python -m tests.support.brokers kafka

.PHONY: helm-venv
helm-venv: ## Python 3.12 virtualenv with helm-sdkpy for the chart tests (skipped if no 3.12)
	@bash scripts/helm-venv.sh $(HELM_VENV)

.PHONY: demo
demo: $(STAMP) ## the closed loop as a story in scenes on the local control plane (DEMO_ARGS="--keep", "--scene 3")
	$(BIN)/naksha demo $(DEMO_ARGS)

.PHONY: reports
reports: $(STAMP) ## run the demo and write reports/D.1-D.6 and reports/PhaseD_snapshot.md from it
	$(BIN)/naksha demo --reports reports --phase D

.PHONY: test
test: setup ## run the suite on the emulator and the integration tests on the real control plane, side by side
	$(BIN)/python -m tests.support.side_by_side $(TEST_ORDER) \
		"emulator=$(BIN)/pytest --durations=15 --junitxml=reports/junit.xml $(EMULATOR_WORKERS) $(PYTEST_ARGS)" \
		"real=$(BIN)/pytest --backend=real -rfEs --durations=15 --junitxml=reports/junit-real.xml $(REAL_WORKERS) $(REAL_TESTS) $(PYTEST_ARGS)"

.PHONY: real-apiserver
real-apiserver: ## build (or reuse) kube-apiserver, controllers, etcd, helm into ~/.cache/naksha (needs Go)
	@bash scripts/real-control-plane.sh build

.PHONY: lint
lint: $(STAMP) ## ruff (lint and format), mypy (strict on the package), the layer contracts (lint-imports)
	$(BIN)/ruff check operator tests benchmarks
	$(BIN)/ruff format --check operator tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

.PHONY: crds
crds: $(STAMP) ## regenerate crds/ and the chart's CRDs from the models
	$(BIN)/naksha crds --out crds --out charts/naksha/crds --reference docs/api-reference.md

.PHONY: rbac
rbac: $(STAMP) ## regenerate manifests/rbac.yaml and the chart's ClusterRole from the operator's rules
	$(BIN)/naksha rbac --root .

.PHONY: bench
bench: $(STAMP) ## run the benchmarks (prints figures next to their references)
	$(BIN)/python benchmarks/control_plane.py
	$(BIN)/python benchmarks/insight.py
	$(BIN)/python benchmarks/insight_recovery.py
	$(BIN)/python benchmarks/agent.py
	$(BIN)/python benchmarks/api_auth.py
	$(BIN)/python benchmarks/rollout.py
	$(BIN)/python benchmarks/pod_network.py
	$(BIN)/python benchmarks/detectors.py
	$(BIN)/python benchmarks/learning.py
	$(BIN)/python benchmarks/federation.py
	$(BIN)/python benchmarks/chaos.py

.PHONY: e2e
e2e: setup ## the kind + helm end-to-end tests (need Docker and kind)
	$(BIN)/pytest tests/e2e --e2e

.PHONY: local-up
local-up: $(STAMP) ## run the local control plane in the foreground (kubeconfig in .state/kubeconfig)
	$(BIN)/naksha local up --kubeconfig .state/kubeconfig --state-dir .state/local

.PHONY: clean
clean: ## remove virtualenvs, caches and local state
	rm -rf $(VENV) $(HELM_VENV) .state .pytest_cache .mypy_cache .ruff_cache
