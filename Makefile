# whisper-api developer tasks. Everything runs in a virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The demo's model: base (multilingual) can also come from the package index where Hugging Face is unreachable.
MODEL ?= base
SAMPLE := samples/jfk.mp3
# In a checkout, models live in ./models (git-ignored); installed packages use the platform data dir.
export WHISPER_API_MODELS_DIR ?= $(CURDIR)/models

CMAKE_ARGS ?=

.PHONY: install install-all binding demo whisper-cli test test-fast lint pytest bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e .
	@$(MAKE) --no-print-directory binding

install-all: $(PY)
	$(PY) -m pip install --quiet -e ".[all]"
	@$(MAKE) --no-print-directory binding

## binding: rebuild the in-process engine for this CPU with ggml's matrix kernels (1.5x faster), once; needs CMake and a C++ compiler
binding:
	@if command -v cmake >/dev/null && command -v c++ >/dev/null; then \
		$(VENV)/bin/whisper-api engine build --binding \
			|| echo "warning: the binding build failed: keeping the published pywhispercpp wheel" >&2; \
	else \
		echo "note: no CMake or C++ compiler: keeping the published pywhispercpp wheel (slower; see docs/engines.md)" >&2; \
	fi

## demo: install, fetch the model and the sample on first use, transcribe the sample to SRT on stdout
demo: install $(SAMPLE)
	$(VENV)/bin/whisper-api transcribe $(SAMPLE) --model $(MODEL) --download --srt -o -

$(SAMPLE): | install
	$(PY) samples/fetch.py $@

## whisper-cli: build the cli engine's binary and whisper-quantize from the pinned source (cached per pin and flags)
whisper-cli: install
	$(VENV)/bin/whisper-api engine build $(foreach arg,$(CMAKE_ARGS),--cmake-arg=$(arg))

## test: install everything, build whisper-cli, lint, type-check and run the test-suite
test: install-all whisper-cli lint pytest

lint:
	$(VENV)/bin/ruff check whisper_api tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected no test: that must fail, not pass quietly.
define run_pytest
	$(PY) -m pytest -q $(1); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$status
endef

## test-fast: the in-process tier (tests/unit: no subprocess, no socket), in seconds
test-fast:
	$(call run_pytest,tests/unit)

# The fast tier first, then the end-to-end tier (real servers, engines, clients), two files at a time:
# most of its time is spent waiting on servers and sockets, so two workers halve it on two cores.
pytest: test-fast
	$(call run_pytest,-n 2 --dist loadfile --ignore=tests/unit)

bench: install-all
	$(PY) -m pip install --quiet -e ".[peers]"
	$(PY) bench/engine_overhead.py
	$(PY) bench/engines.py
	$(PY) bench/accuracy.py

## docs: build the documentation site into site/ (warnings are errors)
docs: install-all
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
