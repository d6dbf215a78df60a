"""What an attribution graph needs of a transcoder, and nothing more: the one interface between
the graph code and however transcoders are trained and stored.

A transcoder of block ``l`` reads the MLP's normalised input (``blocks.{l}.ln2.
hook_normalized``: centred and divided by ln2's scale, before its weight and bias) and writes
the MLP's output (``blocks.{l}.hook_mlp_out``). The graph reads four things of it:

* ``pre_activations(x)`` [..., d_sae]: affine in ``x``, with ``W_enc`` [d_in, d_sae] its
  linear part (what a feature reads: its column);
* ``activate(pre)``: the activation function (TopK, ReLU, JumpReLU, ...), applied as it is;
* ``W_dec`` [d_sae, d_out] and ``b_dec`` [d_out]: feature ``f`` at activation ``a`` writes
  ``a * W_dec[f]``, and ``b_dec`` is a bias of the replacement model;
* optionally ``W_skip`` [d_out, d_in]: a linear skip from input to output, ``x @ W_skip.T``
  (SAELens's and the SAE room's convention), part of the replacement model's linear paths (no
  node).

:class:`probes.sae.model.SparseAutoencoder` is one; a transcoder of any other make that has
these names is another (the tests plant some). Nothing here trains or loads.
"""

from __future__ import annotations

from typing import Protocol

import torch

from othello.common.errors import UserError
from othello.model.hooked import HookedModel
from othello.model.kinds import NEURONS, require


class Transcoder(Protocol):
    W_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor: ...

    def activate(self, pre: torch.Tensor) -> torch.Tensor: ...


Transcoders = dict[int, Transcoder]  # block -> its MLP's transcoder

GRAPHS = "attribution graphs (MLPs replaced by transcoders)"


def skip_of(transcoder: Transcoder) -> torch.Tensor | None:
    """The transcoder's linear skip as the matrix ``x`` is multiplied by ([d_in, d_out]:
    ``W_skip.T``), None when it has none."""
    skip = getattr(transcoder, "W_skip", None)
    return None if skip is None else skip.detach().T


@torch.no_grad()
def reconstruct(transcoder: Transcoder, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, output)`` of the transcoder on its input ``x`` [..., d_in]: the features'
    activations and what it writes (decoder, ``b_dec`` and the skip)."""
    features = transcoder.activate(transcoder.pre_activations(x))
    out = features @ transcoder.W_dec + transcoder.b_dec
    skip = skip_of(transcoder)
    return features, out if skip is None else out + x @ skip


def check_transcoders(model: HookedModel, transcoders: Transcoders, where: str = "") -> None:
    """Refuse, in one line, a model without MLPs (LSTM, Mamba) or transcoders that do not fit
    it: one per block, each reading and writing the residual stream's width."""
    require(model, NEURONS, GRAPHS)
    n_layers, d_model = model.cfg.n_layers, model.cfg.d_model
    where = f"{where}: " if where else ""
    if sorted(transcoders) != list(range(n_layers)):
        raise UserError(
            f"{where}transcoders for blocks {sorted(transcoders)}; the model has blocks "
            f"0..{n_layers - 1}, and a graph replaces every MLP"
        )
    for layer, tc in transcoders.items():
        d_in, d_out = tc.W_enc.shape[0], tc.W_dec.shape[1]
        if (d_in, d_out) != (d_model, d_model):
            raise UserError(
                f"{where}the transcoder of block {layer} maps {d_in} -> {d_out} dimensions; "
                f"this model's residual stream has {d_model}: transcoders of another model?"
            )
