# Gatehouse. Two commands for a newcomer: `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
MANAGE := $(PY) manage.py
PYTEST_ARGS ?=

.PHONY: demo test corpus bench migrate run services help

help:
	@echo "make demo   install, migrate, seed demo organizations and run the whole stack"
	@echo "make test   install and run every test"
	@echo "make bench  run the benchmarks in bench/ and print their figures"

demo: ## install, migrate, seed the demo tenants, run web + worker + beat (+ bridge, relay)
	scripts/bootstrap.sh local
	$(MANAGE) migrate --noinput
	$(MANAGE) mqtt_setup
	$(MANAGE) install_schedules
	$(MANAGE) seed_demo
	@scripts/demo_banner.sh
	.venv/bin/honcho start

test: ## install and run the whole test suite against real PostgreSQL, Redis and Mosquitto
	scripts/bootstrap.sh test
	$(MAKE) corpus
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)

corpus: ## fetch the benign corpus of popular PyPI and npm packages once (.cache/corpus/)
	$(PY) scripts/fetch_corpus.py

bench: ## measurements (never assertions): provisioning, API, pipeline...
	scripts/bootstrap.sh test
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) bench/run.py

migrate:
	$(MANAGE) migrate --noinput

run:
	.venv/bin/honcho start

services:
	$(PY) scripts/ensure_services.py
