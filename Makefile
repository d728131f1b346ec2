# The README's two set-up commands: `make bench` (the main job on the local dev data) and `make test`.
# Both create .venv and install what they need; torch is pinned to the build this machine kind carries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
DEV_DATA ?= ../shared/datasets
STAMP := $(VENV)/.installed

.PHONY: install test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml plugins/negate-example/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[all,test]"
	$(BIN)/pip install --quiet ./plugins/negate-example
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/dev_smoke.py --data $(DEV_DATA)

clean:
	rm -rf $(VENV) build *.egg-info
