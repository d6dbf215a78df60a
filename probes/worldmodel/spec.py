"""The world-model stage as a registered :class:`probes.stage_spec.Stage`: the field's tests of
whether a model has a world model, side by side on one model, its random-init control, the
engine (the perfect world model) and an input-ignoring model."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from othello.common.atomic import write_text
from othello.common.files import METRICS
from probes.stage_spec import Stage, StageJob, load_run_model
from probes.worldmodel.report import load_result, section_lines, verdict_table
from probes.worldmodel.stage import WorldModelConfig, measure_world_model, model_subject
from probes.worldmodel.states import STATE_DEFINITIONS
from probes.worldmodel.verdict import VAFA_MODELS

NERODE = ("compression_precision", "distinction_precision", "distinction_recall")
SIDES = ("model", "random_init")


@dataclass
class WorldModelResult:
    """The stage's metrics.json content (the verdict, every part's figures, the settings)."""

    result: dict
    folder: Path | None = None

    def save(self, folder: str | os.PathLike) -> None:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / METRICS, json.dumps(self.result, indent=1, allow_nan=False) + "\n")
        self.folder = out

    def summary(self) -> dict:
        return self.result

    def figures(self) -> dict[str, Path]:
        return {}


@dataclass
class WorldModelView:
    """The verdict table, shown by the explorer beside the board."""

    result: dict

    def info(self) -> dict:
        verdict = {"subject": self.result["subject"]["name"], "verdict": self.result["verdict"]}
        return {"world_model": verdict}

    def at_position(self, cache: dict, ply: int) -> dict:
        return {}


def _mean(entry: dict | None) -> str:
    return "-" if not entry or entry.get("mean") is None else f"{entry['mean']:.3f}"


class WorldModelStage(Stage):
    name = "worldmodel"
    question = "Is it a world model? (Myhill-Nerode, whole boards, inductive bias, simulation)"
    config = WorldModelConfig
    presets = {
        "tiny": {
            "game_samples": 150, "val_games": 100, "nerode.trials": 100,
            "nerode.suffix_samples": 10, "inductive.anchors": 100,
            "simulation.train_games": 100, "simulation.val_games": 50,
            "simulation.test_games": 100, "simulation.tree_positions": 1000,
            "simulation.val_positions": 500, "patch_pairs": 20,
        }
    }  # fmt: skip
    reads = ("probes",)
    reads_if_present = ("interventions", "soundness")
    compared = True
    order = 50
    summary_key = "world_model"  # summary.json's key since before stages were registered

    def measure(self, model, games, inputs: dict, cfg: WorldModelConfig) -> WorldModelResult:
        """Every part on ``model`` (or ``"engine"``: the rules themselves); the probes'
        result (``inputs["probes"]``) adds the whole-board rows, the interventions' the edit's
        share of the gap closed."""
        return self._measure(model_subject(model, cfg), games, inputs, cfg)

    def run(self, job: StageJob) -> WorldModelResult:
        """On files; with no run, the engine is tested."""
        model = "engine" if job.run is None else load_run_model(job.run, job.cfg.device)
        result = self._measure(model_subject(model, job.cfg, job.run), job.games, job.inputs,
                               job.cfg)  # fmt: skip
        result.save(job.out)
        return result

    def _measure(self, subject, games, inputs: dict, cfg: WorldModelConfig) -> WorldModelResult:
        extra = {}
        if "interventions" in inputs:
            extra["edit_gap_closed"] = inputs["interventions"].gap_closed()
        if "soundness" in inputs:
            extra["soundness"] = inputs["soundness"].metrics
        probes = inputs.get("probes")
        return WorldModelResult(measure_world_model(subject, games, probes, cfg, extra))

    def load(self, folder: str | os.PathLike) -> WorldModelResult:
        return WorldModelResult(load_result(folder), Path(folder))

    def section(self, part: dict) -> list[str]:
        return section_lines(part)

    def view(self, result: WorldModelResult, hooks: dict[int, str]) -> WorldModelView:
        return WorldModelView(result.result)

    def printed(self, result: WorldModelResult) -> list[str]:
        warnings = [f"WARNING: {w}" for w in result.result["warnings"]]
        return verdict_table(result.result) + warnings

    def compare_lines(self, parts: dict[str, dict]) -> list[str]:
        """Each kind's R-IB and D-IB beside Vafa et al.'s (Table 2) for the same architecture,
        and both settings."""
        published = next(iter(parts.values()), {}).get("published", {}).get("inductive_bias")
        if not published:
            return []
        lines = ["", f"Inductive bias beside {published['source']}:", "",
                 "| kind | ours R-IB | ours D-IB | theirs pretrained R-IB | D-IB | theirs from "
                 "scratch R-IB | D-IB |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for kind, part in parts.items():
            ours = part.get("inductive_bias", {}).get("model", {})
            rows = published["values"].get(VAFA_MODELS.get(kind), {})
            cells = [f"{v[i]:.3f} ± {v[i + 1]:.3f}" for v in (rows.get("pretrained"),
                     rows.get("scratch")) if v for i in (0, 2)]  # fmt: skip
            mine = [_mean(ours.get(k)) for k in ("r_ib", "d_ib")]
            lines.append(f"| {kind} | {' | '.join(mine)} | {' | '.join(cells or ['-'] * 4)} |")
        return lines + ["", f"Setting, {published['setting']}; ours: each run's report."]

    def compare_rows(self, part: dict) -> dict[str, dict[str, Any]]:
        """Top-1 legal of the control, the Myhill-Nerode figures and the inductive bias, for
        the model and its random-init control."""
        control = part.get("controls", {}).get("random_init", {}).get("state", {})
        true_state = control.get(STATE_DEFINITIONS[0], {})
        inductive = part.get("inductive_bias", {})
        rows = {
            "top-1 legal (world-model test games)": {s: part["top1_legal"].get(s) for s in SIDES}
        }
        for key in NERODE:
            rows[key.replace("_", " ") + " (true state, sampled)"] = {
                "model": part[key]["mean"], "random_init": (true_state.get(key) or {}).get("mean"),
            }  # fmt: skip
        for key, label in (("r_ib", "R-IB"), ("d_ib", "D-IB")):
            rows[f"inductive bias {label}"] = {
                side: (inductive.get(side, {}).get(key) or {}).get("mean") for side in SIDES
            }
        return rows
