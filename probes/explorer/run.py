"""What the explorer loads once and every answer reads: a run's model, its probes (checked
against the model file), the games files, the default edit and the optional SAE and circuits
folders. The model is shared, so a request holds ``lock`` while it runs the model."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from othello.common.hashing import file_sha256
from othello.corpora.corpus import GamesFile
from othello.model.checkpoint import load_model_file, model_file
from othello.model.hooked import HookedModel
from othello.model.hooks import hooks_by_layer
from probes.explorer.circuits import CircuitsView
from probes.explorer.edits import EditMaker, default_edit
from probes.explorer.sae_view import SAEView
from probes.fit import Probes
from probes.stage import ProbeMetrics
from probes.store import load_probes
from probes.worldmodel.report import load_result


@dataclass
class ExplorerRun:
    """A loaded run. ``hooks`` maps each probed residual layer to its hook name; ``test_rows``
    holds each games file's test-split rows (what the game list offers)."""

    model: HookedModel
    probes: Probes
    probe_dir: Path
    hooks: dict[int, str]
    games: list[GamesFile]
    test_rows: list[np.ndarray]
    defaults: dict
    edits: EditMaker
    circuits: CircuitsView
    sae: SAEView | None = None
    world_model: dict | None = None  # the world-model stage's metrics.json, if given
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def layers(self) -> list[int]:
        return list(self.hooks)

    @classmethod
    def load(
        cls,
        run: str | os.PathLike,
        games: list[str | os.PathLike],
        probe_dir: str | os.PathLike,
        interventions: str | os.PathLike | None = None,
        sae: str | os.PathLike | None = None,
        circuits: str | os.PathLike | None = None,
        world_model: str | os.PathLike | None = None,
    ) -> ExplorerRun:
        """Load everything; the default edit comes from an intervention sweep's choices
        (``interventions``) when given, else the first registered editor at the mine/theirs
        probe's best layer (:func:`probes.explorer.edits.default_edit`)."""
        path = model_file(run)
        model = load_model_file(path)
        probes, meta = load_probes(probe_dir, model_sha256=file_sha256(path))
        hooks = hooks_by_layer(meta["hooks"])
        files = [GamesFile(p) for p in games]
        defaults = default_edit(ProbeMetrics.load(probe_dir), interventions)
        return cls(
            model=model,
            probes=probes,
            probe_dir=Path(probe_dir),
            hooks=hooks,
            games=files,
            test_rows=[g.split_indices("test") for g in files],
            defaults=defaults,
            edits=EditMaker(probes, list(hooks.values()), defaults["scale"]),
            circuits=CircuitsView(model, probes, circuits),  # neurons, patching
            sae=SAEView(sae, hooks) if sae is not None else None,
            world_model=load_result(world_model) if world_model is not None else None,
        )
