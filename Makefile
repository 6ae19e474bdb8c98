# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format clean-venv cpu-torch

# No --upgrade here: a torch already in the venv (e.g. the CPU build from `make cpu-torch`) is kept.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# CPU-only machines: `make cpu-torch demo` installs the CPU build of torch + torchvision first (no nvidia-*
# CUDA libraries or triton, 4.1 GB of the CUDA build `make demo` pulls otherwise); the install above keeps it.
cpu-torch:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu

demo: $(STAMP)
	$(BIN)/vptstudy demo --out-dir demo-out --publish figures

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check vptstudy tests
	$(BIN)/ruff format --check vptstudy tests

format: $(STAMP)
	$(BIN)/ruff format vptstudy tests
	$(BIN)/ruff check --fix vptstudy tests

clean-venv:
	rm -rf $(VENV)
