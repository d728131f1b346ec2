# The README's two set-up commands: `make bench` (the main job on the local dev data) and `make test`.
# Both create .venv and install what they need; torch is pinned to the build this machine kind carries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
DEV_DATA ?= ../shared/datasets
DEMO_DATA ?= ../shared/weights/ferretnet_s/demo
BENCH_OUT ?= results/dev
JOBS ?= 2
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser test lint bench benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml plugins/negate-example/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[all,test]"
	$(BIN)/pip install --quiet ./plugins/negate-example
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium renders the HTML report in the browser test.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 NEGATE_DEV_DATA=$(DEV_DATA) $(BIN)/python -m pytest

# The main job: hybrid, handcrafted and the chance baseline trained and tested on each dev source; then the
# reach proxy: hybrid trained on two dev sources and tested on the third, and hybrid trained on all of dev
# and tested on the FerretNet authors' demo images. benchmarks/leaderboard.md holds both tables.
bench: install
	HF_HUB_OFFLINE=1 NEGATE_DEV_DATA=$(DEV_DATA) $(BIN)/negate-bench run \
		--detector hybrid --detector handcrafted --detector dummy \
		--dataset dev-cifake --dataset dev-diffusiondb --dataset dev-faces \
		--jobs $(JOBS) --output $(BENCH_OUT)
	HF_HUB_OFFLINE=1 NEGATE_DEV_DATA=$(DEV_DATA) $(BIN)/negate-bench run --detector hybrid \
		--dataset dev --protocol leave-one-source-out --jobs $(JOBS) --output $(BENCH_OUT)-reach
	HF_HUB_OFFLINE=1 NEGATE_DEV_DATA=$(DEV_DATA) $(BIN)/negate-bench run --detector hybrid \
		--train-on dev --dataset $(DEMO_DATA) --jobs $(JOBS) --output $(BENCH_OUT)-demo
	$(BIN)/negate-bench leaderboard $(BENCH_OUT) --format md --output $(BENCH_OUT)/leaderboard.md
	$(BIN)/negate-bench leaderboard $(BENCH_OUT)-reach $(BENCH_OUT)-demo --view reach --format md \
		--output $(BENCH_OUT)-reach/leaderboard.md
	{ printf '## Trained and tested on each dev source\n\n'; cat $(BENCH_OUT)/leaderboard.md; \
	  printf '\n## Reach proxy: sources never seen in training\n\n'; \
	  printf 'hybrid trained on two dev sources and tested on the third (heldout-source), and trained on all\n'; \
	  printf 'of dev and tested on the FerretNet authors'"'"' demo images.\n\n'; \
	  cat $(BENCH_OUT)-reach/leaderboard.md; } > benchmarks/leaderboard.md.tmp
	mv benchmarks/leaderboard.md.tmp benchmarks/leaderboard.md

# Speed and memory targets (pytest-benchmark).
benchmarks: install
	HF_HUB_OFFLINE=1 NEGATE_DEV_DATA=$(DEV_DATA) $(BIN)/python -m pytest benchmarks --benchmark-only

clean:
	rm -rf $(VENV) build *.egg-info
