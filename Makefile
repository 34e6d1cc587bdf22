# `make run` and `make test` work on a fresh machine: each installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NPM ?= npm
# torch goes in first and alone, pinned, so no other requirement can pull a different (CUDA) build.
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed
NODE_STAMP := frontend/node_modules/.installed
DIST := frontend/dist/index.html
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package-lock.json
CHROMIUM := /usr/bin/chromium

.PHONY: install run test fuzz bench browser clean zoo

install: $(STAMP) $(DIST)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check $(TORCH_PIN)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The editor, built once and served by `layerloom serve` at /.
$(DIST): $(NODE_STAMP) $(FRONTEND_SOURCES)
	cd frontend && $(NPM) run build --silent

# Debian's Chromium for the browser tests (test tools cannot download browsers here).
browser:
	@test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium)

run: install
	$(VENV)/bin/layerloom serve

test: install browser
	cd frontend && $(NPM) test --silent
	$(PY) -m pytest -q -n 2

# The schemathesis run of `make test`, with many more examples per operation and fresh random
# data each time (the suite's run is derandomized); about 15-30 minutes on 2 cores.
fuzz: install
	LAYERLOOM_FUZZ_EXAMPLES=300 LAYERLOOM_FUZZ_RANDOM=1 $(PY) -m pytest -q -n 2 -p no:cacheprovider tests/integration/test_schemathesis.py

bench: install browser
	$(PY) bench/compile.py
	$(PY) bench/train_overhead.py --threads 1 --clock cpu
	$(PY) bench/train_overhead.py --threads 2 --clock cpu
	$(PY) bench/latency.py
	$(PY) bench/editor.py
	$(PY) bench/predict.py
	$(PY) bench/data.py

# The large examples (keras.applications' architectures and others) are written by a script;
# tests/unit/test_zoo_keras_parity.py fails when the committed files differ from its output.
zoo: install
	$(PY) examples/generate_zoo.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info backend/*.egg-info frontend/node_modules frontend/dist
