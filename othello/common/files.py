"""Every file name the toolkit writes and reads, written once (after SAELens's ``constants.py``):
a stage, the report, the explorer and ``make`` find a file by the name given here."""

from __future__ import annotations

# a run directory (othello.model.run_dir)
MODEL = "model.pt"  # the trained weights and their config, for later stages
CHECKPOINT = "checkpoint.pt"  # everything needed to resume training
CONFIG = "config.json"  # the run's RunRecord
METRICS_LOG = "metrics.jsonl"  # one line per training log or eval step
SNAPSHOTS = "snapshots"  # snapshots/step-NNNNNN/model.pt
SNAPSHOT_PREFIX = "step-"
CONTROL_DIR = "control"  # the same architecture, randomly initialised
EVAL_DIR = "eval"
EVAL_JSON, EVAL_FIGURE = "eval.json", "accuracy_by_move.png"
ACTS = "acts.h5"  # the activation cache

# every stage folder
METRICS = "metrics.json"  # written last: a folder without it is not a finished stage
DETAILS = "details.json"
FIGURES_JSON = "figures.json"  # the data each figure was drawn from
TABLES = "tables.md"

# the probe stage
PROBES = "probes.pt"

# the SAE stage: one folder per SAE (SAELens's layout), a sweep beside them
SAE_CFG, SAE_WEIGHTS = "cfg.json", "sae_weights.safetensors"
SAE_STATE = "sae_checkpoint.pt"
SAE_TRAINING, FEATURE_PAGES = "training.json", "feature_pages.png"
SWEEP_JSON, SWEEP_TABLE = "sweep.json", "sweep.md"

# the circuit laboratory
NEURONS, NEURON_LAYERS, ATLAS = "neurons.json", "neuron_layers.json", "atlas.npz"
ATTRIBUTION, LOGIT_LENS, HEADS = "attribution.json", "logit_lens.json", "heads.json"
ABLATION, PATCHING = "ablation.json", "patching.json"
ATTRIBUTION_PATCHING = "attribution_patching.json"

# probe curves along training
CURVE = "curve.json"

# the report and make compare
SUMMARY, MARKDOWN, HTML = "summary.json", "report.md", "report.html"
LEGAL_FIGURE = "legal_accuracy_by_move.png"  # the eval figure, copied beside the report
COMPARE_JSON, COMPARE_MD = "compare.json", "compare.md"

# bundles for a GPU lease
MANIFEST, REPORT_ARCHIVE = "weights.json", "report.tar.gz"
