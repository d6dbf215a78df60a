"""The run summary (summary.json): every stage's figures, read through each stage's own reader
(the registry, :mod:`probes.stages`), plus the reproduction checks and the machine the report
was made on.

The report only reads the files the stages wrote (config, training log, eval.json, each stage's
folder); it computes nothing new, so what it states is exactly what the stages measured. The
"checks" are the headline claims of Li et al. and Nanda et al., each with the published
figure, ours, and whether ours meets the target set for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from othello.common.errors import UserError
from othello.common.files import EVAL_JSON, METRICS_LOG
from othello.common.machine import describe_machine
from othello.model.run_dir import read_record
from probes.report.checks import run_checks
from probes.report.papers import compare
from probes.stage_spec import StageResult
from probes.stages.layout import Layout
from probes.stages.registry import ordered, stage


@dataclass
class ReportInputs:
    """What the report reads: the run (config.json, metrics.jsonl), its evaluation folder and
    each stage's finished folder, by stage name; nothing is looked up by convention."""

    run: Path
    eval_dir: Path
    stages: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_layout(cls, layout: Layout, folders: dict[str, os.PathLike | None]) -> ReportInputs:
        """The run's evaluation and every registered stage's folder in ``layout`` (a folder
        in ``folders`` in place of the layout's), those that finished; a stage the report
        needs (``in_report``) that has not is refused naming its folder."""
        stages = {}
        for spec in ordered():
            folder = Path(folders.get(spec.name) or layout.folder(spec.name))
            if spec.finished(folder):
                stages[spec.name] = folder
            elif spec.in_report:
                raise FileNotFoundError(
                    f"{folder}: the {spec.name} stage has not finished there; run make "
                    f"{spec.name} (or pass --{spec.name} DIR)"
                )
        return cls(layout.run, layout.file("eval"), stages)


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


def stage_results(inputs: ReportInputs) -> dict[str, StageResult]:
    """Every finished stage's result, in report order."""
    return {s.name: s.load(inputs.stages[s.name]) for s in ordered() if s.name in inputs.stages}


def build_summary(inputs: ReportInputs, results: dict[str, StageResult]) -> dict:
    """The figures of the run and of every stage, read from their outputs, plus the
    reproduction checks."""
    record = read_record(inputs.run)  # any kind of run, in this schema or an older one
    evaluation = read_json(inputs.eval_dir / EVAL_JSON)
    summary = {
        "run": str(inputs.run),
        "config": record.config,
        "imported": record.imported,
        "training": training_record(inputs.run),
        "eval": {k: v for k, v in evaluation.items() if not isinstance(v, list)},
        "machine": describe_machine(),
    }
    for name, result in results.items():
        summary[stage(name).summary_key] = result.summary()
    missing = [s.name for s in ordered() if s.in_report and s.name not in results]
    if missing:
        raise UserError(f"the report needs the {', '.join(missing)} stage(s)")
    summary["checks"] = [c.to_dict() for c in run_checks(summary)]
    if (papers := compare(summary)) is not None:
        summary["papers"] = papers
    return summary
