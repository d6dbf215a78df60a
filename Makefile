# Pipeline stages: each reads files and writes files, and is skipped when its output exists.
# make all PRESET=tiny|cpu|paper RUN=name
# make analyze CHECKPOINT=PATH FORMAT=transformer_lens|othello_world|othello_gpt|hf [RUN=name] [PRESET=...]
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
# an analysed checkpoint gets its own run (named after the file or hf folder) unless RUN says otherwise
RUN ?= $(if $(CHECKPOINT),$(basename $(notdir $(patsubst %/,%,$(CHECKPOINT)))),$(PRESET))
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
IMPORT_ARGS ?=
CACHE_ARGS ?=
CASES_ARGS ?=
# a stage's setting at the preset's sizes (each stage's presets, probes.stages); asking for more
# than a split holds fails
SIZE = $(shell $(PYTHON) -m probes.stages size $(1) $(2) $(PRESET))
PROBE_GAMES ?= $(call SIZE,probes,games)
N_CASES ?= $(call SIZE,interventions,sweep.n_cases)
TUNE_CASES ?= $(call SIZE,interventions,sweep.tune_cases)
CASES ?= $(basename $(GAMES))-cases.h5
ACTS = $(RUN_DIR)/acts.h5
CONTROL = $(RUN_DIR)/control
PROBE_DIR = $(RUN_DIR)/probes
REPORTS ?= reports
REPORT_DIR ?= $(REPORTS)/$(RUN)

# every registered analysis stage (probes.stages), one row each: NAME:PLACE:READS:FILES:DONE:
# IN_REPORT:ARGS:COMPARED (python -m probes.stages table); the generic rule makes each a target
STAGE_TABLE := $(shell $(PYTHON) -m probes.stages table)
STAGES := $(foreach row,$(STAGE_TABLE),$(firstword $(subst :, ,$(row))))

.PHONY: install games train eval cache cases report championship all analyze published explore sae-layers compare test test-fast test-all bench lint $(STAGES)

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

# intervention cases: natural (held-out games), unnatural (greedy-play games), tune (validation)
cases: $(CASES)
$(CASES): $(GAMES)
	$(PYTHON) scripts/make_intervention_set.py --games $(GAMES) --out $@ --n-cases $(N_CASES) --tune-cases $(TUNE_CASES) --seed $(SEED) $(CASES_ARGS)

# One rule for every registered stage: `make NAME` runs it on RUN (scripts/run_stage.py) once
# the stages it reads and the files it needs are made; NAME_ARGS adds key=value settings (e.g.
# PROBES_ARGS, INTERVENTIONS_ARGS, SAE_ARGS, CIRCUITS_ARGS, WORLDMODEL_ARGS). A stage the report
# does not wait for refreshes the report when there is one.
comma := ,
stage_row = $(subst :, ,$(filter $(1):%,$(STAGE_TABLE)))
stage_list = $(filter-out -,$(subst $(comma), ,$(word $(2),$(call stage_row,$(1)))))
stage_dir = $(if $(filter run,$(word 2,$(call stage_row,$(1)))),$(RUN_DIR),$(REPORT_DIR))/$(1)
stage_done = $(call stage_dir,$(1))/$(word 5,$(call stage_row,$(1)))
REPORT_STAGES = $(foreach s,$(STAGES),$(if $(filter yes,$(word 6,$(call stage_row,$(s)))),$(s)))
FILE_acts = $(ACTS)
FILE_control_acts = $(CONTROL)/acts.h5
FILE_cases = $(CASES)
LAYOUT = --run $(RUN_DIR) --report $(REPORT_DIR) --games $(GAMES) --cases $(CASES) --preset $(PRESET)

define STAGE_RULE
$(1): $(call stage_done,$(1))
$(call stage_done,$(1)): $(RUN_DIR)/model.pt $(foreach r,$(call stage_list,$(1),3),$(call stage_done,$(r))) $(foreach f,$(call stage_list,$(1),4),$(FILE_$(f))) | $(GAMES)
	$(PYTHON) scripts/run_stage.py $(1) $(LAYOUT) $$($(word 7,$(call stage_row,$(1))))
	$(if $(filter $(1),$(REPORT_STAGES)),,@if [ -f $(REPORT_DIR)/summary.json ]; then $(PYTHON) scripts/report.py $$(REPORT_ARGS); fi)
endef
$(foreach s,$(STAGES),$(eval $(call STAGE_RULE,$(s))))

# report.md, self-contained report.html and summary.json, with the reproduction checks
report: $(REPORT_DIR)/summary.json
$(REPORT_DIR)/summary.json: $(RUN_DIR)/eval/eval.json $(foreach s,$(REPORT_STAGES),$(call stage_done,$(s)))
	$(PYTHON) scripts/report.py $(REPORT_ARGS)

REPORT_ARGS = --run $(RUN_DIR) --out $(REPORT_DIR)

# Real games: pass PGN=... (e.g. ../shared/data/championship-pgn/*.pgn)
championship:
	$(PYTHON) scripts/import_games.py --format pgn --out data/championship.h5 $(PGN)

all: report

analyze:
	@test -n "$(CHECKPOINT)" || { echo "error: make analyze needs CHECKPOINT=PATH (and FORMAT=transformer_lens|othello_world|hf)"; exit 2; }
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

# one TopK SAE (and its control) at every cached layer: the board metrics layer by layer
sae-layers: $(REPORT_DIR)/sae-layers/sweep.json
$(REPORT_DIR)/sae-layers/sweep.json: $(ACTS) $(CONTROL)/acts.h5
	$(PYTHON) scripts/train_sae.py --acts $(ACTS) --layer all --out $(REPORT_DIR)/sae-layers --sweep layers --control $(CONTROL)/acts.h5 $(SAE_ARGS)

# Beyond the transformer: the GPT of PRESET, an LSTM and a Mamba trained on PRESET's corpus for
# about the GPT's CPU time (presets lstm-PRESET, mamba-PRESET), every stage and the world-model
# tests on each beside its random-init control, then one report (scripts/compare.py):
# $(COMPARE_DIR)/compare.md. The Mamba needs the mamba extra (installed here when missing).
COMPARE_KINDS ?= lstm mamba
COMPARE_RUNS = $(PRESET) $(foreach k,$(COMPARE_KINDS),$(k)-$(PRESET))
COMPARE_DIR ?= $(REPORTS)/compare-$(PRESET)
COMPARE_STAGES = $(foreach s,$(STAGES),$(if $(filter yes,$(word 8,$(call stage_row,$(s)))),$(s)))
compare:
	@$(if $(filter mamba,$(COMPARE_KINDS)),$(PYTHON) -c "import mambapy" 2>/dev/null || $(PYTHON) -m pip install -e ".[mamba]")
	@for run in $(COMPARE_RUNS); do \
		$(MAKE) --no-print-directory all $(COMPARE_STAGES) PRESET=$(PRESET) TRAIN_PRESET=$$run RUN=$$run || exit 1; \
	done
	$(PYTHON) scripts/compare.py --reports $(foreach r,$(COMPARE_RUNS),$(REPORTS)/$(r)) --out $(COMPARE_DIR)

# the explorer on a finished run: http://127.0.0.1:$(PORT)/ (every registered stage that finished
# on the run is shown); SNAPSHOT=STEP: the run's weights at that training step, read by the
# probes the dynamics stage fitted on them (make dynamics first)
PORT ?= 8050
SNAPSHOT ?=
explore: $(if $(SNAPSHOT),$(call stage_done,dynamics),$(call stage_done,probes))
	$(PYTHON) scripts/explore.py --run $(RUN_DIR) --games $(GAMES) --port $(PORT) $(if $(SNAPSHOT),--snapshot $(SNAPSHOT) --dynamics $(call stage_dir,dynamics),$(foreach s,$(STAGES),$(if $(wildcard $(call stage_done,$(s))),--$(s) $(call stage_dir,$(s)))))

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
