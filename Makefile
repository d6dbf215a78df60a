# Pipeline stages. Each reads files and writes files; later stages arrive with later issues.
PYTHON ?= python
PRESET ?= cpu
RUN ?= $(PRESET)
N ?= 2000000
SEED ?= 0
WORKERS ?= 2
GAMES ?= data/games.h5
TORCH_SPEC ?= torch==2.13.0

.PHONY: install games championship test test-all bench lint all

# torch first, pinned, only when missing: an unpinned install may pull a multi-GB CUDA build.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[dev]"

games: $(GAMES)
$(GAMES):
	$(PYTHON) scripts/make_games.py --n $(N) --seed $(SEED) --workers $(WORKERS) --out $@

# Real games: pass PGN=... (e.g. ../shared/data/championship-pgn/*.pgn)
championship:
	$(PYTHON) scripts/import_games.py --format pgn --out data/championship.h5 $(PGN)

all: games

test:
	$(PYTHON) -m pytest

test-all:
	$(PYTHON) -m pytest -m ""

bench:
	$(PYTHON) benchmarks/bench_games.py

lint:
	ruff check . && ruff format --check .
