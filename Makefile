# The two commands a fresh machine needs (Python 3.11+ and make):
#   make demo   install kscribe and transcribe the bundled sample video
#   make test   install kscribe with its test tools and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test stack submit install install-test install-stack clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "kscribe needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-stack: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[stack]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-stack: $(VENV)/.installed-stack

demo: install
	KSCRIBE_DATA_DIR=$(CURDIR)/.kscribe $(BIN)/kscribe run samples/meeting.mp4 --out $(OUT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The local multi-process stack (Procfile, settings in .env); stop it with Ctrl-C.
stack: install-stack
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

# Upload a file into the running stack's input bucket and follow its job.
VIDEO ?= samples/meeting.mp4
submit: install-stack
	set -a && . ./.env && set +a && $(BIN)/kscribe submit $(VIDEO)

clean:
	rm -rf $(VENV) .kscribe $(OUT) .pytest_cache
