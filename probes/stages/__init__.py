"""The analysis stages, one registry: each stage is a :class:`probes.stage_spec.Stage`
registered in :mod:`probes.stages.registry`, run in memory or on a run's files.

    import probes

    probes.stages.names()          # ['probes', 'interventions', 'sae', 'circuits', 'worldmodel']
    stage = probes.stages.stage("worldmodel")
    cfg = stage.configure("tiny", ["nerode.trials=50"])      # a preset's sizes, then key=value
    fitted = probes.stages.stage("probes").measure(model, "data/games.h5", {}, cfg_probes)
    result = stage.measure(model, "data/games.h5", {"probes": fitted}, cfg)   # nothing written
    probes.stages.run_stage("worldmodel", layout)            # a run's files in, its folder out

Names are loaded on first use.
"""

from __future__ import annotations

from othello.common.exports import lazy_exports

_EXPORTS = {
    "STAGES": "probes.stages.registry",
    "names": "probes.stages.registry",
    "stage": "probes.stages.registry",
    "ordered": "probes.stages.registry",
    "register_stage": "probes.stages.registry",
    "Layout": "probes.stages.layout",
    "run_stage": "probes.stages.runner",
    "stage_job": "probes.stages.runner",
    "load_finished": "probes.stages.runner",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
