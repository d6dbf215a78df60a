"""The rules as the subject of the soundness stage (``scripts/soundness.py --engine``): every
search and the corpus find no error, the known answer the stage's figures stand beside."""

from __future__ import annotations

import time
from dataclasses import asdict

from othello.common.hashing import file_sha256
from probes.failures.measure import measure
from probes.failures.report import summary_lines
from probes.failures.result import SoundnessResult
from probes.failures.subjects import EngineSubject
from probes.stage_spec import StageJob


def run_engine(job: StageJob) -> SoundnessResult:
    """Measure the engine on ``job.games`` with ``job.cfg``'s sizes; save into ``job.out``."""
    began = time.perf_counter()
    metrics, errors = measure(EngineSubject(), job.games, job.cfg)
    metrics |= {
        "subject": "engine",
        "board": {"hook": "the rules' own board", "layer": None, "chosen_on": "-"},
        "edit": {"method": "the board set", "layer": "-", "chosen_on": "-"},
        "settings": asdict(job.cfg),
        "games_sha256": file_sha256(job.games),
        "seconds": round(time.perf_counter() - began, 1),
    }
    result = SoundnessResult(metrics, errors)
    result.save(job.out)
    print("\n".join(summary_lines(metrics)))
    print(f"wrote {job.out / 'metrics.json'}")
    return result
