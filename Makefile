# The two commands a fresh machine needs: `make local` (whole stack) and `make test` (all tests).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
AIRFLOW_VENV := .venv-airflow
PY := $(VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --quiet
PYTEST_ARGS ?=

# Every target below is a command, none a file (tests/workflows/test_makefile.py keeps this list exact).
.PHONY: help venv airflow-venv system-packages lint test test-fast local local-status local-down local-clean \
	diagram adr-index settings-docs bench-scaler bench-healthcheck bench-e2e bench-venv bench-dagsync bench-dagsync-check tools-venv dev destroy \
	iam-docs infra-docs infra-fmt infra-validate clean

help: ## List targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# --- environments -----------------------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml requirements/lock.txt
	@echo "==> creating $(VENV) (project + test dependencies, pinned by requirements/lock.txt)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	@$(PY) -m pip install $(PIP_FLAGS) -c requirements/lock.txt -e '.[test]'
	@touch $@

$(AIRFLOW_VENV)/.installed: images/airflow/constraints.txt images/airflow/requirements.txt
	@echo "==> creating $(AIRFLOW_VENV) (Apache Airflow 3.1.8, pinned by images/airflow/constraints.txt; ~400 MB)"
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	@$(AIRFLOW_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	@$(AIRFLOW_VENV)/bin/python -m pip install $(PIP_FLAGS) --progress-bar on -c images/airflow/constraints.txt \
	    -r images/airflow/requirements.txt
	@touch $@

venv: $(VENV)/.installed ## Project venv
airflow-venv: $(AIRFLOW_VENV)/.installed ## Airflow 3.1.8 venv (tests and the local stack run Airflow from it)

system-packages:
	@scripts/ensure-system-packages.sh

# --- checks -----------------------------------------------------------------------------------------------
LINT_PATHS := services tests devtools bench scripts infra/scripts
lint: venv ## ruff (services, tests, devtools, bench, scripts, infra/scripts) + mypy
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check services devtools scripts infra/scripts
	$(VENV)/bin/mypy
	$(PY) scripts/settings_docs.py --check

# INFRA_TF_MIRROR=1: the tests take the aws provider from this project's offline mirror (infra/tf-cli.hcl), never
# the registry; a user's `make dev` uses the normal registry (services/infractl/tf.py).
test: system-packages venv airflow-venv tools-venv ## Install everything the tests need, then run them all
	INFRA_TF_MIRROR=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: venv ## Unit and property tests only (no Airflow, no e2e, nothing slow)
	INFRA_TF_MIRROR=1 $(VENV)/bin/pytest -m "not airflow and not e2e and not slow" $(PYTEST_ARGS)

# --- local stack: the local env (infra/envs/local) on emulated AWS, its task definitions run by devtools/fargate -----
# State (PID files, logs, data) in LOCAL_STATE; see docs/adr/0008-local-stack-and-config.md.
LOCAL_STATE ?= .local
LOCALSTACK := $(PY) -m devtools.localstack --state-dir $(LOCAL_STATE)

local: system-packages venv airflow-venv ## Deploy the local env (infra/envs/local) to emulated AWS and run its ECS tasks locally
	@$(LOCALSTACK) up

local-status: ## PID, port and log of every local process
	@$(LOCALSTACK) status

local-down: ## Stop every local process by its PID
	@$(LOCALSTACK) down

local-clean: ## Stop the local stack and remove its state
	@$(LOCALSTACK) clean

# --- docs (issue: CI/CD, diagram, runbooks) ----------------------------------------------------------------
diagram: venv ## Regenerate docs/architecture*.png (overview + detailed; model fingerprints) from docs/architecture.py
	@command -v dot >/dev/null || scripts/ensure-system-packages.sh
	$(PY) docs/architecture.py

adr-index: venv ## Regenerate the ADR index table in docs/adr/README.md from the ADR files
	$(PY) scripts/adr_index.py --write

settings-docs: venv ## Regenerate the services' README option tables from their settings models
	$(PY) scripts/settings_docs.py

bench-scaler: system-packages venv airflow-venv ## Scaler: cost of one cycle at 10, 1k, 100k queued messages
	$(PY) bench/scaler/bench_cycle.py

bench-healthcheck: system-packages venv ## Healthcheck: load test on /status (req/s, p50/p99; cached and with a hung probe)
	$(PY) bench/healthcheck/bench_status.py

bench-e2e: system-packages venv airflow-venv ## Whole stack (make local): publish-to-visible p50/p95, task-definition defaults and 30 s (~25 min)
	$(PY) bench/e2e/bench_publish_latency.py --json bench/e2e/results.json

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed:
	@echo "==> creating $(BENCH_VENV) (awscli v1, pinned, for the dagsync benchmark only)"
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install $(PIP_FLAGS) awscli==1.46.2
	@echo "==> creating $(BENCH_VENV)/dagsync (dagsync as its image installs it: only the dagsync extra)"
	@test -x $(BENCH_VENV)/dagsync/bin/python || $(PYTHON) -m venv $(BENCH_VENV)/dagsync
	@$(BENCH_VENV)/dagsync/bin/python -m pip install $(PIP_FLAGS) -c requirements/lock.txt -e ".[dagsync]"
	@touch $@

bench-venv: $(BENCH_VENV)/.installed ## awscli==1.46.2 and an image-like dagsync venv in .venv-bench (dagsync benchmark)

bench-dagsync: system-packages venv airflow-venv bench-venv ## dagsync vs aws s3 sync, rclone, S3Hook: 2k/10k, 25 ms latency, CPU and wall
	$(PY) bench/dagsync/bench_sync.py --latency-ms 25

bench-dagsync-check: venv bench-venv ## CPU of one `dagsync check` (the ECS health probe) vs the full CLI and bare Python
	$(PY) bench/dagsync/bench_check.py

# --- infra (issue 6): OpenTofu/Terraform through `infra` (services/infractl) -----------------------------------
TOOLS_VENV := .venv-tools
INFRA_CLI := $(VENV)/bin/infra

$(TOOLS_VENV)/.installed: requirements/tools.txt
	@echo "==> creating $(TOOLS_VENV) (checkov, pinned by requirements/tools.txt; its own venv: its pins clash with ours)"
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	@$(TOOLS_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	@$(TOOLS_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/tools.txt
	@touch $@

tools-venv: $(TOOLS_VENV)/.installed ## checkov in .venv-tools

dev: venv ## Apply dev: infra/platform with infra/envs/dev's settings (plan, policy gate, then asks)
	$(INFRA_CLI) apply dev

destroy: venv ## Tear dev down (asks first)
	$(INFRA_CLI) destroy dev

iam-docs: venv ## Render every IAM/resource policy of the dev plan to docs/iam/ (throwaway moto, no AWS)
	$(PY) infra/scripts/render_iam_docs.py

infra-docs: venv ## Regenerate the Inputs/Outputs tables of the module READMEs
	$(INFRA_CLI) docs

infra-fmt: ## terraform/tofu fmt of infra/
	TF_CLI_CONFIG_FILE=$(CURDIR)/infra/tf-cli.hcl $$(command -v tofu || command -v terraform) fmt -recursive infra

infra-validate: venv ## init -backend=false + validate of the root module, every module and example (offline mirror)
	$(VENV)/bin/pytest -q tests/infra/test_static.py -k "validate or fmt"

CLEAN_PATHS := $(VENV) $(AIRFLOW_VENV) $(TOOLS_VENV) $(BENCH_VENV) $(LOCAL_STATE) .pytest_cache .mypy_cache \
	.ruff_cache .hypothesis
clean: ## Stop the local stack, remove every venv, the local stack's state (.local) and the caches
	@if [ -x $(PY) ] && [ -d $(LOCAL_STATE) ]; then $(LOCALSTACK) clean; fi
	@echo "==> removing $(CLEAN_PATHS)"
	rm -rf $(CLEAN_PATHS)
