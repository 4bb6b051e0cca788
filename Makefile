# The two commands of the README:
#   make demo   set up .venv, then run the main job (zoo bench quick on the embedded data)
#   make test   set up .venv, then run the whole test suite
# Both bootstrap a virtual environment in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch build to install (CUDA wheels run on the CPU too). Any torch >= 2.11 works.
TORCH_PKGS ?= torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=10

# Peers the benchmarks run beside ours (pyproject's `peers` extra), installed so that pip
# never changes torch or numpy: pythae and wavenet-vocoder declare torch (and pythae the old
# `dataclasses` backport), so they go in with --no-deps and their light dependencies by name.
PEERS_LIGHT := nltk kenlm "pydantic>=2" imageio tqdm
PEERS_NODEPS := pythae==0.1.2 wavenet-vocoder==0.1.1

.PHONY: setup demo test lint docs bench-standard peers clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PKGS) || $(PY) -m pip install -q torch torchvision torchaudio
	$(PY) -m pip install -q -e ".[dev,docs,fast]"
	touch $@

demo: setup
	$(VENV)/bin/zoo bench quick

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check zoo tests benchmarks

# The docs site: regenerate its tables, chart and nav from benchmarks/results, build it strict.
docs: setup
	$(PY) docs/gen.py
	$(VENV)/bin/mkdocs build --strict -d site

bench-standard: setup
	$(VENV)/bin/zoo bench standard

peers: setup
	$(PY) -m pip install -q $(PEERS_LIGHT)
	$(PY) -m pip install -q --no-deps $(PEERS_NODEPS)
	$(PY) -c "import nltk, kenlm, pythae.models, wavenet_vocoder; print('peers import')"

clean:
	rm -rf runs reports site .pytest_cache .hypothesis
