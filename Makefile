# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml setup.py $(wildcard src/gifloop/*/_ckernels.c)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gifloop demo demo/

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PIP) install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/seed_recipe.py

clean:
	rm -rf $(VENV) demo .pytest_cache
