# Pipeline stages: each reads files and writes files, and is skipped when its output exists.
# make all PRESET=tiny|cpu|paper RUN=name
# make analyze CHECKPOINT=PATH FORMAT=transformer_lens|othello_world|othello_gpt [RUN=name] [PRESET=...]
# make published [MODEL=synthetic|championship]: a published model, fetched from the hub
PYTHON ?= python
PRESET ?= cpu
FORMAT ?= transformer_lens
N_HEADS ?= 8
# a published model (make published) is analysed as the run published-$(MODEL)
MODEL ?= synthetic
ifneq ($(filter published,$(MAKECMDGOALS)),)
RUN ?= published-$(MODEL)
endif
# an analysed checkpoint gets its own run (named after the file) unless RUN says otherwise
RUN ?= $(if $(CHECKPOINT),$(basename $(notdir $(CHECKPOINT))),$(PRESET))
SEED ?= 0
WORKERS ?= 1
N ?= $(shell $(PYTHON) -c "from othello.training.config import preset; print(preset('$(PRESET)').n_games)")
# the published championship model is analysed on imported championship games (make championship),
# whose 1% val/test splits are small: probes cache training-split games (the model never saw our
# split, and the report says its training set may overlap), the cases take what the splits hold
CHAMPIONSHIP_GAMES ?= data/championship.h5
ifeq ($(RUN),published-championship)
GAMES ?= $(CHAMPIONSHIP_GAMES)
CACHE_ARGS ?= --split train
CASES_ARGS ?= --allow-fewer
CIRCUITS_ARGS ?= allow_fewer=true
ifeq ($(wildcard $(GAMES)),)
$(error $(GAMES) is missing: make it with make championship PGN=../shared/data/championship-pgn/*.pgn)
endif
endif
GAMES ?= data/games-$(PRESET)-seed$(SEED).h5
RUNS ?= data/runs
RUN_DIR ?= $(RUNS)/$(RUN)
TORCH_SPEC ?= torch==2.13.0
TRAIN_ARGS ?=
# the training preset: PRESET's own by default; make compare trains lstm-PRESET and
# mamba-PRESET on PRESET's corpus with PRESET's stage sizes
TRAIN_PRESET ?= $(PRESET)
FIT_ARGS ?=
INTERVENE_ARGS ?=
SAE_ARGS ?=
IMPORT_ARGS ?=
CACHE_ARGS ?=
CASES_ARGS ?=
# stage sizes of the preset (probes.stage_sizes); asking for more than a split holds fails
SIZE = $(shell $(PYTHON) -c "from probes.stage_sizes import stage_sizes; print(stage_sizes('$(PRESET)').$(1))")
PROBE_GAMES ?= $(call SIZE,probe_games)
N_CASES ?= $(call SIZE,n_cases)
TUNE_CASES ?= $(call SIZE,tune_cases)
# the circuit laboratory's games, positions, ablation games and patching pairs (key=value words)
CIRCUITS_SIZES ?= $(call SIZE,circuits.args)
CASES ?= $(basename $(GAMES))-cases.h5
ACTS = $(RUN_DIR)/acts.h5
CONTROL = $(RUN_DIR)/control
PROBE_DIR = $(RUN_DIR)/probes
REPORTS ?= reports
REPORT_DIR ?= $(REPORTS)/$(RUN)
INTERVENTIONS = $(REPORT_DIR)/interventions

.PHONY: install games train eval cache probes intervene report championship all analyze published explore sae sae-layers circuits worldmodel compare test test-fast test-all bench lint

# torch first, pinned, only when missing: an unpinned install may pull a multi-GB CUDA build.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[dev]"

games: $(GAMES)
$(GAMES):
	$(PYTHON) scripts/make_games.py --n $(N) --seed $(SEED) --workers $(WORKERS) --out $@

train: $(RUN_DIR)/model.pt
ifdef CHECKPOINT
# a model we did not train: converted into a run directory, then every stage as for ours
$(RUN_DIR)/model.pt: $(CHECKPOINT) | $(GAMES)
	$(PYTHON) scripts/convert_checkpoint.py import --kind $(FORMAT) --in $(CHECKPOINT) --out $(RUN_DIR) --n-heads $(N_HEADS) $(IMPORT_ARGS)
else
$(RUN_DIR)/model.pt: $(GAMES)
	$(PYTHON) scripts/train.py --preset $(TRAIN_PRESET) --games $(GAMES) --out $(RUN_DIR) --resume $(TRAIN_ARGS)
endif

eval: $(RUN_DIR)/eval/eval.json
$(RUN_DIR)/eval/eval.json: $(RUN_DIR)/model.pt
	$(PYTHON) scripts/evaluate.py --run $(RUN_DIR) --games $(GAMES) --out $(RUN_DIR)/eval

# Residual stream of the model and of its random-init control, over held-out games
cache: $(ACTS) $(CONTROL)/acts.h5
$(ACTS): $(RUN_DIR)/model.pt
	$(PYTHON) scripts/cache.py --run $(RUN_DIR) --games $(GAMES) --out $@ --n-games $(PROBE_GAMES) $(CACHE_ARGS)
$(CONTROL)/acts.h5: $(RUN_DIR)/model.pt
	$(PYTHON) scripts/cache.py --run $(RUN_DIR) --games $(GAMES) --out $@ --n-games $(PROBE_GAMES) --control $(CACHE_ARGS)

probes: $(REPORT_DIR)/probes/figures.json
$(PROBE_DIR)/metrics.json: $(ACTS)
	$(PYTHON) scripts/fit_probes.py --acts $< --out $(PROBE_DIR) $(FIT_ARGS)
$(CONTROL)/probes/metrics.json: $(CONTROL)/acts.h5
	$(PYTHON) scripts/fit_probes.py --acts $< --out $(CONTROL)/probes $(FIT_ARGS)
$(REPORT_DIR)/probes/figures.json: $(PROBE_DIR)/metrics.json $(CONTROL)/probes/metrics.json
	$(PYTHON) scripts/probe_report.py --probes $(PROBE_DIR) --control $(CONTROL)/probes --out $(REPORT_DIR)/probes

# Flip one disc in the model's board; does it follow? (benchmark cases, then the sweep)
intervene: $(INTERVENTIONS)/metrics.json
$(CASES): $(GAMES)
	$(PYTHON) scripts/make_intervention_set.py --games $(GAMES) --out $@ --n-cases $(N_CASES) --tune-cases $(TUNE_CASES) --seed $(SEED) $(CASES_ARGS)
$(INTERVENTIONS)/metrics.json: $(RUN_DIR)/model.pt $(PROBE_DIR)/metrics.json $(CASES)
	$(PYTHON) scripts/intervene.py --run $(RUN_DIR) --probes $(PROBE_DIR) --games $(GAMES) --set $(CASES) --out $(INTERVENTIONS) $(INTERVENE_ARGS)

# report.md, self-contained report.html and summary.json, with the reproduction checks
report: $(REPORT_DIR)/summary.json
$(REPORT_DIR)/summary.json: $(RUN_DIR)/eval/eval.json $(REPORT_DIR)/probes/figures.json $(INTERVENTIONS)/metrics.json
	$(PYTHON) scripts/report.py $(REPORT_ARGS)

REPORT_ARGS = --run $(RUN_DIR) --eval $(RUN_DIR)/eval --probes $(PROBE_DIR) --control-probes $(CONTROL)/probes --probe-figures $(REPORT_DIR)/probes --interventions $(INTERVENTIONS) --out $(REPORT_DIR) $$([ -f $(SAE_DIR)/sweep.json ] && echo --sae $(SAE_DIR))

# Real games: pass PGN=... (e.g. ../shared/data/championship-pgn/*.pgn)
championship:
	$(PYTHON) scripts/import_games.py --format pgn --out data/championship.h5 $(PGN)

all: report

analyze:
	@test -n "$(CHECKPOINT)" || { echo "error: make analyze needs CHECKPOINT=PATH (and FORMAT=transformer_lens|othello_world)"; exit 2; }
	@$(MAKE) --no-print-directory report CHECKPOINT=$(CHECKPOINT) FORMAT=$(FORMAT) RUN=$(RUN) PRESET=$(PRESET)

# a published model (NeelNanda/Othello-GPT-Transformer-Lens) into the Hugging Face hub's cache,
# then analyze on it, the hub commit, size and sha256 recorded in its config.json and report
PUBLISHED_JSON ?= data/published/$(MODEL).json
published:
	@$(PYTHON) -c "import huggingface_hub" 2>/dev/null || $(PYTHON) -m pip install -e ".[hub]"
	$(PYTHON) scripts/fetch_published.py --model $(MODEL) --json-out $(PUBLISHED_JSON)
	@$(MAKE) --no-print-directory report FORMAT=transformer_lens RUN=$(RUN) PRESET=$(PRESET) \
		CHECKPOINT="$$($(PYTHON) -c "import json; print(json.load(open('$(PUBLISHED_JSON)'))['path'])" 2>/dev/null)" \
		IMPORT_ARGS="--source-json $(PUBLISHED_JSON)"

# sparse autoencoders at the mine/theirs probe's best layer: the preset's sweep, and the first
# setting on the random-init control (scripts/train_sae.py, probes/sae/stage.py)
SAE_SWEEP ?= $(if $(filter tiny,$(PRESET)),tiny,cpu)
SAE_DIR = $(REPORT_DIR)/sae
sae: $(SAE_DIR)/sweep.json
$(SAE_DIR)/sweep.json: $(ACTS) $(CONTROL)/acts.h5 $(PROBE_DIR)/metrics.json
	$(PYTHON) scripts/train_sae.py --acts $(ACTS) --layer best --out $(SAE_DIR) --sweep $(SAE_SWEEP) --control $(CONTROL)/acts.h5 $(SAE_ARGS)
	@if [ -f $(REPORT_DIR)/summary.json ]; then $(PYTHON) scripts/report.py $(REPORT_ARGS); fi

# one TopK SAE (and its control) at every cached layer: the board metrics layer by layer
sae-layers: $(REPORT_DIR)/sae-layers/sweep.json
$(REPORT_DIR)/sae-layers/sweep.json: $(ACTS) $(CONTROL)/acts.h5
	$(PYTHON) scripts/train_sae.py --acts $(ACTS) --layer all --out $(REPORT_DIR)/sae-layers --sweep layers --control $(CONTROL)/acts.h5 $(SAE_ARGS)

# how the model computes its board and its move: direct logit attribution, logit lens, heads,
# the neuron atlas (trees vs the true board, random-init and shuffled-label controls, causal
# check) and activation patching (scripts/circuits.py, probes/circuits/); refreshes the report
# when there is one (report.py reads $(REPORT_DIR)/circuits when it is finished)
CIRCUITS_ARGS ?=
CIRCUITS_DIR = $(REPORT_DIR)/circuits
circuits: $(CIRCUITS_DIR)/metrics.json
$(CIRCUITS_DIR)/metrics.json: $(RUN_DIR)/model.pt $(PROBE_DIR)/metrics.json | $(GAMES)
	$(PYTHON) scripts/circuits.py --run $(RUN_DIR) --games $(GAMES) --probes $(PROBE_DIR) --out $(CIRCUITS_DIR) $(CIRCUITS_SIZES) $(CIRCUITS_ARGS)
	@if [ -f $(REPORT_DIR)/summary.json ]; then $(PYTHON) scripts/report.py $(REPORT_ARGS); fi

# Is it a world model? Myhill-Nerode compression and distinction (true and board-only state),
# whole-board probe accuracy, inductive-bias probes, neuron simulation and attribution
# patching, beside the random-init control, the engine and an input-ignoring model
# (scripts/world_model.py, probes/worldmodel/); refreshes the report when there is one
WORLDMODEL_ARGS ?=
WORLDMODEL_SIZES ?= $(call SIZE,world_model_args)
WORLDMODEL_DIR = $(REPORT_DIR)/worldmodel
worldmodel: $(WORLDMODEL_DIR)/metrics.json
$(WORLDMODEL_DIR)/metrics.json: $(RUN_DIR)/model.pt $(PROBE_DIR)/metrics.json $(CONTROL)/probes/metrics.json | $(GAMES)
	$(PYTHON) scripts/world_model.py --run $(RUN_DIR) --games $(GAMES) --probes $(PROBE_DIR) --control-probes $(CONTROL)/probes $(if $(wildcard $(INTERVENTIONS)/metrics.json),--interventions $(INTERVENTIONS)) --out $(WORLDMODEL_DIR) $(WORLDMODEL_SIZES) $(WORLDMODEL_ARGS)
	@if [ -f $(REPORT_DIR)/summary.json ]; then $(PYTHON) scripts/report.py $(REPORT_ARGS); fi

# Beyond the transformer: the GPT of PRESET, an LSTM and a Mamba trained on PRESET's corpus for
# about the GPT's CPU time (presets lstm-PRESET, mamba-PRESET), every stage and the world-model
# tests on each beside its random-init control, then one report (scripts/compare.py):
# $(COMPARE_DIR)/compare.md. The Mamba needs the mamba extra (installed here when missing).
COMPARE_KINDS ?= lstm mamba
COMPARE_RUNS = $(PRESET) $(foreach k,$(COMPARE_KINDS),$(k)-$(PRESET))
COMPARE_DIR ?= $(REPORTS)/compare-$(PRESET)
compare:
	@$(if $(filter mamba,$(COMPARE_KINDS)),$(PYTHON) -c "import mambapy" 2>/dev/null || $(PYTHON) -m pip install -e ".[mamba]")
	@for run in $(COMPARE_RUNS); do \
		$(MAKE) --no-print-directory all PRESET=$(PRESET) TRAIN_PRESET=$$run RUN=$$run || exit 1; \
		$(MAKE) --no-print-directory worldmodel PRESET=$(PRESET) TRAIN_PRESET=$$run RUN=$$run || exit 1; \
	done
	$(PYTHON) scripts/compare.py --reports $(foreach r,$(COMPARE_RUNS),$(REPORTS)/$(r)) --out $(COMPARE_DIR)

# the explorer on a finished run: http://127.0.0.1:$(PORT)/
PORT ?= 8050
explore: $(PROBE_DIR)/metrics.json
	$(PYTHON) scripts/explore.py --run $(RUN_DIR) --games $(GAMES) --probes $(PROBE_DIR) --port $(PORT) $(if $(wildcard $(INTERVENTIONS)/details.json),--interventions $(INTERVENTIONS)) $(if $(wildcard $(CIRCUITS_DIR)/metrics.json),--circuits $(CIRCUITS_DIR)) $(if $(wildcard $(WORLDMODEL_DIR)/metrics.json),--world-model $(WORLDMODEL_DIR))

# the suite on TEST_WORKERS processes (pytest-xdist); test-fast: the unit tests that need no
# trained model; test-all: every test, the slow ones included
TEST_WORKERS ?= 2
test:
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist worksteal

test-fast:
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist worksteal tests/unit -m "not slow and not model"

test-all:
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist worksteal -m ""

bench:
	$(PYTHON) benchmarks/bench_games.py
	$(PYTHON) benchmarks/bench_train.py --preset $(PRESET)
	$(PYTHON) benchmarks/bench_probes.py --run $(RUN_DIR) --games $(GAMES)
	$(PYTHON) benchmarks/bench_interventions.py --run $(RUN_DIR) --probes $(PROBE_DIR) --games $(GAMES)

lint:
	ruff check . && ruff format --check .
