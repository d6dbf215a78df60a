"""Othello-GPT toolkit: the world (rules, corpora, tokens) and the model that learns it.

What a notebook imports (each one call; the scripts and stages call the same functions)::

    import othello

    model = othello.load_model("data/runs/cpu")        # a run, our model.pt, or a published file
    model = othello.from_pretrained("synthetic")        # Nanda et al.'s model via the hub cache
    game = othello.Game.from_moves("F5 D6 C3")          # replayed and checked by the engine
    game.board(2), game.mover(2), game.legal_moves(2)   # the board from the mover's view, ...
    logits, cache = othello.run_with_cache(model, game)  # activations by hook name
    cache.resid(2)                                       # the residual stream at layer 2
    tl_model = othello.to_hooked(model)                  # in TransformerLens 4 (or 3), same logits
    othello.save_pretrained(model, "exports/hf")         # transformers, nnsight, TL 4 open it
    lstm = othello.build_model(othello.LSTMConfig(n_layers=4, d_model=128))  # other kinds

Names are loaded on first use, so ``import othello`` stays cheap (no torch until asked).
"""

from __future__ import annotations

from othello.common.exports import lazy_exports
from othello.common.version import __version__ as __version__  # re-exported

# public name -> the module that defines it
_EXPORTS = {
    "load_model": "othello.interop.pretrained",
    "from_pretrained": "othello.interop.pretrained",
    "save_pretrained": "othello.interop.pretrained",
    "Game": "othello.world.game",
    "MoveListError": "othello.world.game",
    "run_with_cache": "othello.model.run",
    "run_with_hooks": "othello.model.run",
    "ActivationCache": "othello.model.run",
    "to_hooked": "othello.interop.tl_bridge",
    "GPT": "othello.model.gpt",
    "GPTConfig": "othello.model.config",
    "LSTMConfig": "othello.model.config",
    "MambaConfig": "othello.model.config",
    "build_model": "othello.model.kinds",
    "register_model_kind": "othello.model.kinds",
    "act_name": "othello.model.hooks",
    "resid_hook": "othello.model.hooks",
    "square_name": "othello.world.squares",
    "parse_square": "othello.world.squares",
    "generate_corpus": "othello.corpora.generate",
    "preset": "othello.training.config",
    "train": "othello.training.train",
    "UserError": "othello.common.errors",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
