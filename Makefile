# The commands the README names. `make run` runs the whole system; `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: run run-cluster test install browser nginx services down status lint typecheck clean

run: install services  ## install what is missing, start every service and the emulator on :8000
	@$(PY) -m local.run

run-cluster: install services nginx  ## two emulator nodes (:8001, :8002) behind nginx on :8000, registered in ZooKeeper
	@$(PY) -m local.cluster

test: install lint typecheck browser nginx services  ## install, check style and types, start what the tests need, run the whole suite
	$(PY) -m pytest

browser:  ## headless Chromium for the web page's end-to-end test (Debian package)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; } || echo "warning: chromium missing and not root: the browser test will be skipped (sudo apt-get install -y chromium)"

nginx: install  ## nginx for `make run-cluster` and its end-to-end test (Debian package, no system service started)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { [ "$$(id -u)" = 0 ] && $(PY) -m local.cluster --install-nginx; } || echo "warning: nginx missing and not root: make run-cluster needs it and its test will be skipped (sudo apt-get install -y nginx)"

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
