# Pipeline stages: each reads files and writes files, and is skipped when its output exists.
# make all PRESET=tiny|cpu|paper RUN=name
PYTHON ?= python
PRESET ?= cpu
RUN ?= $(PRESET)
SEED ?= 0
WORKERS ?= 1
N ?= $(shell $(PYTHON) -c "from othello.config import preset; print(preset('$(PRESET)').n_games)")
GAMES ?= data/games-$(PRESET)-seed$(SEED).h5
RUN_DIR ?= data/runs/$(RUN)
TORCH_SPEC ?= torch==2.13.0
TRAIN_ARGS ?=

.PHONY: install games train eval championship all test test-all bench lint

# torch first, pinned, only when missing: an unpinned install may pull a multi-GB CUDA build.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[dev]"

games: $(GAMES)
$(GAMES):
	$(PYTHON) scripts/make_games.py --n $(N) --seed $(SEED) --workers $(WORKERS) --out $@

train: $(RUN_DIR)/model.pt
$(RUN_DIR)/model.pt: $(GAMES)
	$(PYTHON) scripts/train.py --preset $(PRESET) --games $(GAMES) --out $(RUN_DIR) --resume $(TRAIN_ARGS)

eval: $(RUN_DIR)/eval/eval.json
$(RUN_DIR)/eval/eval.json: $(RUN_DIR)/model.pt
	$(PYTHON) scripts/evaluate.py --run $(RUN_DIR) --games $(GAMES)

# Real games: pass PGN=... (e.g. ../shared/data/championship-pgn/*.pgn)
championship:
	$(PYTHON) scripts/import_games.py --format pgn --out data/championship.h5 $(PGN)

all: eval

test:
	$(PYTHON) -m pytest

test-all:
	$(PYTHON) -m pytest -m ""

bench:
	$(PYTHON) benchmarks/bench_games.py
	$(PYTHON) benchmarks/bench_train.py --preset $(PRESET)

lint:
	ruff check . && ruff format --check .
