"""The world-model tests as one call each, for a notebook: a model (or ``"engine"``) and a games
file in, figures out, nothing written. The stage (:mod:`.stage`) calls the same functions.

>>> probes.myhill_nerode(model, "data/games-cpu-seed0.h5", target="legal_set", trials=200)
>>> probes.myhill_nerode("engine", "data/games-cpu-seed0.h5")        # 1, 1, 1
>>> probes.inductive_bias(model, "data/games-cpu-seed0.h5", n_tasks=4)
>>> probes.neuron_simulation(model, "data/games-cpu-seed0.h5", layers=(3,))
>>> probes.attribution_patching(model, "data/games-cpu-seed0.h5", n_pairs=50)
"""

from __future__ import annotations

import os

from othello.common.errors import UserError
from othello.corpora.corpus import GamesFile
from othello.model.gpt import GPT
from othello.model.hooked import HookedModel
from probes.circuits.attribution_patching import attribution_patching_on_games
from probes.circuits.config import CircuitsConfig
from probes.worldmodel import inductive as inductive_part
from probes.worldmodel import simulation as simulation_part
from probes.worldmodel.accept_rule import model_acceptor
from probes.worldmodel.nerode import NerodeSettings, nerode_scores
from probes.worldmodel.rule_acceptors import EngineAcceptor
from probes.worldmodel.stage import WorldModelConfig, split_games
from probes.worldmodel.states import state_pool


def myhill_nerode(
    model: HookedModel | str,
    games: str | os.PathLike,
    target: str = "sampled",
    state: str = "board_and_mover",
    game_samples: int = WorldModelConfig.game_samples,
    val_games: int = WorldModelConfig.val_games,
    allow_fewer: bool = False,
    **settings,
) -> dict:
    """Compression precision, distinction precision and recall (Vafa et al. 2024) of ``model``
    (``"engine"``: the rules) on the test split's prefixes; ``target``: the model's training
    target, which sets its accept rule (``legal_set``: a threshold chosen on validation
    games); asking for more games than a split holds is refused unless ``allow_fewer``;
    ``settings``: :class:`~probes.worldmodel.nerode.NerodeSettings` fields."""
    if isinstance(model, str) and model != "engine":
        raise UserError(f"model {model!r}: pass a model or 'engine'")
    with GamesFile(games) as g:
        pool = state_pool(*split_games(g, "test", game_samples, allow_fewer), state)
        if isinstance(model, str):
            acceptor, rule = EngineAcceptor(), {"rule": "legal moves"}
        else:
            val = split_games(g, "val", val_games, allow_fewer)
            acceptor, rule = model_acceptor(model, target, *val)
    return {**nerode_scores(acceptor, pool, NerodeSettings(**settings)), "accept_rule": rule}


def inductive_bias(model: HookedModel, games: str | os.PathLike, **settings) -> dict:
    """R-IB and D-IB (Vafa et al. 2025); ``settings``: InductiveBiasSettings fields."""
    with GamesFile(games) as g:
        cfg = inductive_part.InductiveBiasSettings(**settings)
        return inductive_part.inductive_bias(model, g, cfg, str(next(model.parameters()).device))


def neuron_simulation(model: GPT, games: str | os.PathLike, **settings) -> dict:
    """Karvonen's neuron simulation per MLP layer; ``settings``: SimulationSettings fields."""
    with GamesFile(games) as g:
        cfg = simulation_part.SimulationSettings(**settings)
        device = str(next(model.parameters()).device)
        return simulation_part.neuron_simulation(model, g, cfg, device)


def attribution_patching(
    model: HookedModel,
    games: str | os.PathLike,
    n_pairs: int = CircuitsConfig.patch_pairs,
    follow: int = CircuitsConfig.patch_follow,
    seed: int = 0,
) -> dict:
    """Attribution patching of the circuit laboratory's pairs beside exact activation
    patching: both maps, their correlation and the seconds of each."""
    with GamesFile(games) as g:
        return attribution_patching_on_games(model, g, n_pairs, follow, seed)
