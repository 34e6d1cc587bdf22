# `make run` and `make test` work on a fresh machine: each installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch goes in first and alone, pinned, so no other requirement can pull a different (CUDA) build.
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check $(TORCH_PIN)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/layerloom serve

test: install
	$(PY) -m pytest -q -n 2

bench: install
	$(PY) bench/compile.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info backend/*.egg-info
