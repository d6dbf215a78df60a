"""How many games, positions and cases the analysis stages take from each training preset's
corpus (``make all``, ``make circuits``, ``make analyze`` and the GPU runbook read them). Each
must fit the corpus's splits, since asking for more than a split holds is refused.

The default preset's sizes (:data:`DEFAULTS`, the ``cpu`` preset's) are also what a script or
settings dataclass takes when no size is asked (``make_intervention_set.py``, the intervention
stage drawing cases from a games file, :class:`probes.circuits.stage.CircuitsConfig`), so each
size is written here once."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from othello.common.errors import UserError


@dataclass(frozen=True)
class CircuitSizes:
    """The circuit laboratory's sizes (CircuitsConfig's fields of the same names): games per
    split, positions per tree sample, ablation games and patching pairs."""

    test_games: int  # held-out games: every figure
    val_games: int  # validation: tree depths, head classes
    train_games: int  # training games the tree sample is drawn from
    tree_positions: int  # training positions the trees are fitted on
    val_positions: int
    test_positions: int
    ablation_games: int
    patch_pairs: int

    @property
    def args(self) -> str:
        """``key=value`` words for scripts/circuits.py (the Makefile passes them)."""
        return " ".join(f"{k}={v}" for k, v in asdict(self).items())


@dataclass(frozen=True)
class WorldModelSizes:
    """The world-model stage's sizes (WorldModelConfig's fields; ``nerode.*`` its trials):
    test games the states come from, validation games, trials and continuations per trial,
    and the test prefixes the inductive-bias probes reorder."""

    game_samples: int
    val_games: int
    trials: int
    suffix_samples: int
    inductive_anchors: int = 200

    def args(self, circuits: CircuitSizes) -> str:
        """``key=value`` words for scripts/world_model.py; the neuron simulation and the
        patching take the circuit laboratory's sizes."""
        words = [f"game_samples={self.game_samples}", f"val_games={self.val_games}"]
        words += [f"nerode.trials={self.trials}", f"nerode.suffix_samples={self.suffix_samples}"]
        words.append(f"inductive.anchors={self.inductive_anchors}")
        for key in ("train_games", "val_games", "test_games", "tree_positions", "val_positions"):
            words.append(f"simulation.{key}={getattr(circuits, key)}")
        return " ".join([*words, f"patch_pairs={circuits.patch_pairs}"])


@dataclass(frozen=True)
class StageSizes:
    """The analysis stages' sizes for one preset."""

    probe_games: int  # games cached for probes (the corpus's validation split)
    n_cases: int  # intervention cases per reported set (natural from the test split)
    tune_cases: int  # cases settings, layers and methods are chosen on (validation split)
    circuits: CircuitSizes
    world_model: WorldModelSizes

    @property
    def world_model_args(self) -> str:
        return self.world_model.args(self.circuits)


_CPU = StageSizes(
    probe_games=3000,
    n_cases=1000,
    tune_cases=200,
    circuits=CircuitSizes(
        test_games=200,
        val_games=100,
        train_games=300,
        tree_positions=4000,
        val_positions=2000,
        test_positions=4000,
        ablation_games=100,
        patch_pairs=100,
    ),
    # Vafa et al.'s sizes: states from 10,000 games, 1,000 trials of 30 continuations
    world_model=WorldModelSizes(
        game_samples=10_000, val_games=1000, trials=1000, suffix_samples=30
    ),
)
STAGE_SIZES: dict[str, StageSizes] = {
    # 20k games: about 200 in each of the validation and test splits
    "tiny": StageSizes(
        probe_games=150,
        n_cases=100,
        tune_cases=100,
        circuits=CircuitSizes(
            test_games=100,
            val_games=50,
            train_games=100,
            tree_positions=1000,
            val_positions=500,
            test_positions=1000,
            ablation_games=50,
            patch_pairs=20,
        ),
        world_model=WorldModelSizes(
            game_samples=150, val_games=100, trials=100, suffix_samples=10, inductive_anchors=100
        ),
    ),
    "cpu": _CPU,
    "paper": _CPU,  # the same sizes: its figures compare with the cpu model's
}
DEFAULT_PRESET = "cpu"  # the Makefile's PRESET when none is given
DEFAULTS = STAGE_SIZES[DEFAULT_PRESET]


def stage_sizes(preset: str) -> StageSizes:
    if preset not in STAGE_SIZES:
        raise UserError(f"no stage sizes for preset {preset!r}; known: {sorted(STAGE_SIZES)}")
    return STAGE_SIZES[preset]
