"""The run summary (summary.json): every stage's figures, read through each stage's own reader,
plus the reproduction checks and the machine the report was made on.

The report only reads the files the stages wrote (config, training log, eval.json, probe and
intervention metrics, figures); it computes nothing new, so what it states is exactly what the
stages measured. The "checks" are the headline claims of Li et al. and Nanda et al., each
with the published figure, ours, and whether ours meets the target set for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from othello.common.machine import describe_machine
from othello.model.evaluate import EVAL_JSON
from othello.model.run_dir import METRICS_LOG, read_record
from probes.circuits.stage import CircuitsResults
from probes.interventions.stage import InterventionResults
from probes.interventions.sweep import TUNE
from probes.report.checks import run_checks
from probes.report.papers import compare
from probes.sae.stage import load_sweep
from probes.stage import ProbeMetrics
from probes.worldmodel.report import load_result

REPORTED = ("natural", "unnatural")  # case sets the report tabulates (tune only chooses)
REPORTED_SCHEMES = ("mine_theirs", "black_white", "flipped", "legal")


@dataclass
class ReportInputs:
    """Where each stage wrote what the report reads; nothing is looked up by convention."""

    run: Path  # config.json and, for a run trained here, metrics.jsonl
    eval_dir: Path  # eval.json and accuracy_by_move.png
    probes: Path  # fit_probes.py output: metrics.json
    control_probes: Path  # the same for the random-init control
    probe_figures: Path  # probe_report.py output
    interventions: Path  # intervene.py output
    sae: Path | None = None  # train_sae.py --sweep output, if any
    circuits: Path | None = None  # circuits.py output, if any
    world_model: Path | None = None  # world_model.py output, if any

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            setattr(self, f.name, Path(value) if value is not None else None)


def read_json(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it first")
    return json.loads(path.read_text())


def training_record(run_dir: Path) -> dict | None:
    """Steps, time and last validation figure of a run trained here (None if imported)."""
    log = run_dir / METRICS_LOG
    if not log.exists():
        return None
    lines = [json.loads(x) for x in log.read_text().splitlines() if x]
    last_eval = next((x for x in reversed(lines) if "val_top1_legal_accuracy" in x), {})
    last_log = next((x for x in reversed(lines) if "tokens_per_s" in x), {})
    return {
        "steps": max((x.get("step", 0) for x in lines), default=0),
        "seconds": max((x.get("elapsed_s", 0.0) for x in lines), default=0.0),
        "val_top1_legal_accuracy": last_eval.get("val_top1_legal_accuracy"),
        "tokens_per_s": last_log.get("tokens_per_s"),
    }


def probe_summary(probes: ProbeMetrics, control: ProbeMetrics) -> dict:
    """The probes' part of the summary: test and validation accuracy by layer, test
    whole-board accuracy by layer (None for probes fitted before it was counted), the layers
    chosen on validation, the baselines and the random-init control."""
    schemes = [
        s for s in ("mine_theirs", "black_white", "flipped", "legal") if s in probes.accuracy
    ]
    return {
        "layers": list(probes.layers),
        "accuracy": {s: probes.accuracy[s] for s in schemes},
        "val_accuracy": {s: probes.val_accuracy[s] for s in schemes},
        "best": {str(k): vars(v) for k, v in probes.best.items()},
        "baselines": probes.baselines,
        "control": {s: control.accuracy[s] for s in schemes if s in control.accuracy},
        "control_best": {str(k): vars(v) for k, v in control.best.items()},
        "whole_board": _schemes(probes.whole_board, schemes),
        "control_whole_board": _schemes(control.whole_board, schemes),
        "train_games": probes.sizes["train"],
        "val_games": probes.sizes["val"],
        "test_games": probes.sizes["test"],
        "warnings": probes.warnings,
    }


def _schemes(table: dict | None, schemes: list[str]) -> dict | None:
    return None if table is None else {s: table[s] for s in schemes if s in table}


def intervention_summary(results: InterventionResults) -> dict:
    """The interventions' part: the natural cases' scores, every reported set, the unedited
    model, the choices made on the tuning cases."""
    return {
        "metrics": results.scores["natural"],
        "sets": {k: v for k, v in results.scores.items() if k != TUNE},
        "sizes": results.sizes,
        "null": results.null,
        "choice": results.choice,
        "warnings": results.warnings,
    }


def build_summary(inputs: ReportInputs) -> dict:
    """The figures of every stage, read from their outputs, plus the reproduction checks."""
    record = read_record(inputs.run)  # any kind of run, in this schema or an older one
    evaluation = read_json(inputs.eval_dir / EVAL_JSON)
    probes = ProbeMetrics.load(inputs.probes)
    control = ProbeMetrics.load(inputs.control_probes)
    summary = {
        "run": str(inputs.run),
        "config": record.config,
        "imported": record.imported,
        "training": training_record(inputs.run),
        "eval": {k: v for k, v in evaluation.items() if not isinstance(v, list)},
        "probes": probe_summary(probes, control),
        "interventions": intervention_summary(InterventionResults.load(inputs.interventions)),
        "machine": describe_machine(),
    }
    if inputs.sae is not None:
        summary["sae"] = load_sweep(inputs.sae)
    if inputs.circuits is not None:
        summary["circuits"] = CircuitsResults.load(inputs.circuits).summary()
    if inputs.world_model is not None:
        summary["world_model"] = load_result(inputs.world_model)
    summary["checks"] = [c.to_dict() for c in run_checks(summary)]
    if (papers := compare(summary)) is not None:
        summary["papers"] = papers
    return summary
