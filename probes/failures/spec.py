"""The soundness stage as a registered :class:`probes.stage_spec.Stage`: where the model fails
(adversarial search beside random games and the held-out corpus, the engine and the
random-init model beside it) and whether its board is to blame (:mod:`probes.failures.behind`).
Its board is the mine/theirs probe at the layer chosen on validation games (the probe stage's
choice); its edit the intervention sweep's headline setting, chosen on tuning cases (the
interventions stage's when finished, else a small sweep run in memory)."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import asdict

from othello.common.hashing import file_sha256
from othello.model.kinds import random_init
from probes.failures.boards import model_edit
from probes.failures.coherence import accept_rule, coherence_split
from probes.failures.measure import HEADLINE, SoundnessConfig, measure
from probes.failures.report import section_lines, summary_lines
from probes.failures.result import SoundnessResult
from probes.failures.search import search
from probes.failures.subjects import EngineSubject, ModelSubject
from probes.failures.view import SoundnessView
from probes.stage_spec import Stage, model_sha256

BOARD = "mine_theirs"
SMALL_SWEEP = {"n_cases": 50, "tune_cases": 100}  # the in-memory sweep's sizes


def edit_setting(model, games, probes_result, interventions) -> dict:
    """The headline edit (method, start layer, scale) chosen on tuning cases."""
    from probes.explorer.edits import DEFAULT_STRENGTH
    from probes.interventions.spec import InterventionConfig, InterventionStage
    from probes.interventions.sweep import SweepConfig
    from probes.interventions.view import InterventionView

    if interventions is None:
        sweep = SweepConfig(methods=("linear",), gallery=0, saliency=0, allow_fewer=True,
                            **SMALL_SWEEP)  # fmt: skip
        cfg = dataclasses.replace(InterventionConfig(), sweep=sweep, progress=False)
        interventions = InterventionStage().measure(model, games, {"probes": probes_result}, cfg)
    return InterventionView(interventions).edit_default(DEFAULT_STRENGTH)


class SoundnessStage(Stage):
    name = "soundness"
    question = "Where does it fail, and is its board to blame?"
    config = SoundnessConfig
    presets = {
        "tiny": {"search.searches": 40, "search.budgets": (20, 50, 100), "held_out_games": 30,
                 "correct_positions": 50, "coherence_trials": 50}
    }  # fmt: skip
    reads = ("probes",)
    reads_if_present = ("interventions",)
    order = 70
    compared = True

    def measure(self, model, games, inputs: dict, cfg: SoundnessConfig) -> SoundnessResult:
        """Searches against ``model`` (and, search alone, its random-init control and the
        engine), every error classified and edited; nothing written."""
        began = time.perf_counter()
        found = inputs["probes"]
        probes, _ = found.probes(model_sha256(model))
        best = found.metrics.best_of(BOARD)
        hook = found.metrics.hook(best.layer)
        setting = edit_setting(model, games, found, inputs.get("interventions"))
        acceptor, rule = accept_rule(model, games, cfg.target or "sampled")
        subject = ModelSubject(model, probes, hook, model_edit(model, probes, setting),
                               acceptor.weights_from_logits)  # fmt: skip
        metrics, errors = measure(subject, games, cfg)
        accepting = dataclasses.replace(cfg.search, criterion="accept", progress=False,
                                        strategies=("random", HEADLINE))  # fmt: skip
        metrics["search_accept"] = {
            "accept_rule": rule,
            **{name: search(subject, name, accepting).summary(cfg.search.budgets)
               for name in accepting.strategies},
        }  # fmt: skip
        quick = dataclasses.replace(cfg.search, strategies=("random", HEADLINE), progress=False)
        budgets = cfg.search.budgets
        metrics["random_init"] = {
            name: search(ModelSubject(random_init(model), probes, hook), name, quick).summary(
                budgets
            )
            for name in quick.strategies
        }
        metrics["engine"] = {
            name: search(EngineSubject(), name, quick).summary(budgets) for name in quick.strategies
        }
        if cfg.coherence_trials:
            metrics["coherence"] = coherence_split(
                subject, acceptor, rule, games, cfg.coherence_trials, cfg.suffix_samples, cfg.seed
            )
            metrics["warnings"] += metrics["coherence"]["warnings"]
        metrics |= {
            "board": {"hook": hook, "layer": best.layer, "chosen_on": best.chosen_on},
            "edit": setting,
            "settings": asdict(cfg),
            "model_sha256": model_sha256(model),
            "games_sha256": file_sha256(games),
            "seconds": round(time.perf_counter() - began, 1),
        }
        return SoundnessResult(metrics, errors)

    def run(self, job):
        if job.run is not None:
            from othello.model.run_dir import check_corpus

            check_corpus(job.run, job.games, False)
        return super().run(job)

    def load(self, folder: str | os.PathLike) -> SoundnessResult:
        return SoundnessResult.load(folder)

    def view(self, result: SoundnessResult, hooks: dict[int, str]) -> SoundnessView:
        return SoundnessView(result)

    def section(self, part: dict) -> list[str]:
        return section_lines(part)

    def printed(self, result: SoundnessResult) -> list[str]:
        return summary_lines(result.metrics)

    def compare_rows(self, part: dict) -> dict[str, dict]:
        """The headline search's success within its largest budget (the model and its
        random-init control), the corpus's error rate and the board behind the errors."""
        search = part["search"]
        budget = str(max(int(k) for k in search if k.isdigit()))
        control = (part.get("random_init") or {}).get(search["attack"], {}).get(budget, {})
        errors = part["errors"]
        mean = lambda key: (errors.get(key) or {}).get("mean")  # noqa: E731
        return {
            f"{search['attack']} search: an illegal top move within {budget} calls": {
                "model": search[budget]["success_rate"],
                "random_init": control.get("success_rate"),
            },
            "natural errors per position (held-out corpus)": {
                "model": search["baseline"]["corpus"]["error_rate"], "random_init": None},
            "errors on a wrong board": {"model": mean("wrong_board_share"), "random_init": None},
            "errors fixed by the true-board edit": {
                "model": mean("fixed_by_true_board_share"), "random_init": None},
            "errors fixed by editing as many other squares": {
                "model": mean("fixed_by_control_share"), "random_init": None},
        }  # fmt: skip


def soundness(
    run: str | os.PathLike,
    games: str | os.PathLike,
    probes: str | os.PathLike,
    out: str | os.PathLike | None = None,
    **settings,
) -> SoundnessResult:
    """Where the run's model fails and whether its board is to blame, in one call: its probe
    folder's board, an edit chosen on tuning cases; ``settings``: SoundnessConfig fields as
    ``key=value`` words' values (``search.budgets="50,500"``); with ``out`` the folder is
    written."""
    from othello.common import settings as settings_lib
    from probes.probe_spec import ProbeResult
    from probes.stage_spec import load_run_model

    spec = SoundnessStage()
    cfg = settings_lib.apply_overrides(SoundnessConfig(), [f"{k}={v}" for k, v in settings.items()])
    model = load_run_model(run, "cpu")
    if cfg.target is None:
        from othello.model.run_dir import training_target

        cfg.target = training_target(run)
    result = spec.measure(model, games, {"probes": ProbeResult.load(probes)}, cfg)
    if out is not None:
        result.save(out)
    return result
