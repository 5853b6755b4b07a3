# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

run: install
	$(PY) -m devstack.run

test: install lint
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .devstack .pytest_cache .ruff_cache
