"""What the explorer loads once and every answer reads: a run's model, its probes (checked
against the model file), the games files, and the finished folders of any registered stages
(each read through its view, :meth:`probes.stage_spec.Stage.view`): the default edit, the
circuits folder's neuron records, an SAE's features, the world-model verdict. The model is
shared, so a request holds ``lock`` while it runs the model."""

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
from probes.circuits.view import CircuitsFolder
from probes.explorer.circuits import CircuitsView
from probes.explorer.edits import EditMaker, default_edit
from probes.fit import Probes
from probes.probe_metrics import ProbeMetrics
from probes.stages.registry import stage
from probes.stages.runner import load_folders
from probes.store import load_probes


@dataclass
class ExplorerRun:
    """A loaded run. ``hooks`` maps each probed residual layer to its hook name; ``test_rows``
    holds each games file's test-split rows (what the game list offers); ``views`` each given
    stage's view, by stage name."""

    model: HookedModel
    probes: Probes
    probe_dir: Path
    hooks: dict[int, str]
    games: list[GamesFile]
    test_rows: list[np.ndarray]
    defaults: dict
    edits: EditMaker
    circuits: CircuitsView
    views: dict = field(default_factory=dict)
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
        stages: dict[str, str | os.PathLike | None] | None = None,
    ) -> ExplorerRun:
        """Load everything; ``stages``: finished folders of registered stages (by name) whose
        views the page shows."""
        path = model_file(run)
        model = load_model_file(path)
        probes, meta = load_probes(probe_dir, model_sha256=file_sha256(path))
        hooks = hooks_by_layer(meta["hooks"])
        files = [GamesFile(p) for p in games]
        views = stage_views(stages or {}, hooks)
        defaults = default_edit(ProbeMetrics.load(probe_dir), views)
        records = next((v for v in views.values() if isinstance(v, CircuitsFolder)), None)
        return cls(
            model=model,
            probes=probes,
            probe_dir=Path(probe_dir),
            hooks=hooks,
            games=files,
            test_rows=[g.split_indices("test") for g in files],
            defaults=defaults,
            edits=EditMaker(probes, list(hooks.values()), defaults["scale"]),
            circuits=CircuitsView(model, probes, records),  # neurons, patching
            views=views,
        )


def stage_views(folders: dict[str, str | os.PathLike | None], hooks: dict[int, str]) -> dict:
    """The view of each given stage folder (checked to be a finished folder of that stage)."""
    views = {}
    for name, result in load_folders(folders).items():
        view = stage(name).view(result, hooks)
        if view is not None:
            views[name] = view
    return views
