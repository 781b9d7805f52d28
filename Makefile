# The commands the README names. `make run` runs the whole system; `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: run test install services down status lint typecheck clean

run: install services  ## install what is missing, start every service and the emulator on :8000
	@$(PY) -m local.run

test: install services  ## install, start what the tests need, run the whole suite
	$(PY) -m pytest

install: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt requirements-dev.txt
	@command -v python3 >/dev/null || { echo "error: python3 (3.11+) not found: apt-get install -y python3 python3-venv"; exit 1; }
	@test -x $(PY) || python3 -m venv .venv || { echo "error: could not create .venv: apt-get install -y python3-venv"; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

services: install  ## start PostgreSQL, Redis, ZooKeeper and Kafka on 127.0.0.1 (no-op when up)
	@$(PY) -m local.services up

status:
	@$(PY) -m local.services status

down:  ## stop every service started by `make services`
	@$(PY) -m local.services down

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: install
	$(PY) -m mypy layers/shared/python local

clean: down
	rm -rf .state
