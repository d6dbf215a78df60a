"""Every analysis stage, registered once (after SAELens's ``registry.py``): a new stage is its
own room, one line in :data:`BUILT_IN` (or :func:`register_stage` from a notebook) and its
script. Everything that runs or reads stages (make, the report, the explorer, make compare)
iterates over :data:`STAGES`; nothing else names a stage."""

from __future__ import annotations

from othello.common.registry import Registry
from probes.circuits.spec import CircuitsStage
from probes.failures.spec import SoundnessStage
from probes.formation.spec import DynamicsStage
from probes.graphs.spec import GraphStage
from probes.interventions.spec import InterventionStage
from probes.probe_spec import ProbeStage
from probes.sae.spec import SAEStage
from probes.stage_spec import Stage
from probes.transcoders.spec import TranscoderStage
from probes.worldmodel.spec import WorldModelStage

BUILT_IN = (
    ProbeStage, InterventionStage, SAEStage, CircuitsStage, WorldModelStage, DynamicsStage,
    TranscoderStage, GraphStage, SoundnessStage,
)  # fmt: skip
STAGES = Registry("stage")
for stage_class in BUILT_IN:
    STAGES.register(stage_class())


def register_stage(stage: Stage) -> Stage:
    """Add a stage (a :class:`probes.stage_spec.Stage` instance) under its name."""
    return STAGES.register(stage)


def names() -> list[str]:
    """The registered stages' names, in report order."""
    return [s.name for s in ordered()]


def stage(name: str) -> Stage:
    """The registered stage ``name`` (an error listing the choices when there is none)."""
    return STAGES.lookup(name)


def ordered() -> list[Stage]:
    """Every registered stage in the order its report section stands."""
    return sorted(STAGES.values(), key=lambda s: (s.order, s.name))
