"""The local replacement model of one game prefix (Ameisen et al. 2025, "Circuit Tracing"; the
facts are circuit-tracer's, the code is ours): the GPT's real forward pass with every
LayerNorm's divisor and every attention pattern frozen at their values there, and each MLP
replaced by its transcoder plus an error node (the true MLP output minus the transcoder's).
What remains between the nodes is linear: the residual stream, attention through its frozen
patterns (values and output projections), LayerNorm's centring and frozen division, and the
transcoders' skips.

Nodes write vectors into the residual stream: a token's embedding and a position's embedding
into layer 0, a feature ``(l, p, f)`` of activation ``a`` writes ``a * W_dec[f]`` and an error
node ``(l, p)`` its error vector into layer ``l + 1`` at position ``p``. A feature reads its
pre-activation, ``W_enc[:, f]`` against block ``l``'s normalised MLP input; the target reads a
vector at the last position (a move's unembedding through the final LayerNorm, or a probe's
direction at a residual layer). The direct effect of a source on a reader is the reader's
vector pulled back through the linear paths to the source's layer and position, dotted with
the source's vector: :meth:`Medium.pull` pulls a batch of readers back one block at a time
(the transpose of attention with frozen patterns, LayerNorm with frozen scale, skips), which is
what circuit-tracer's backward passes compute, without autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from othello.model.gpt import GPT
from othello.model.hooks import FINAL_SCALE, act_name, frozen_hooks, resid_hooks
from probes.graphs.transcoders import Transcoders, reconstruct, skip_of


def center(g: torch.Tensor) -> torch.Tensor:
    """``g`` minus its mean over the last dimension: LayerNorm's centring, which is its own
    transpose."""
    return g - g.mean(-1, keepdim=True)


@dataclass
class Forward:
    """What one real forward pass of a prefix fixes: per block l, ln1's and ln2's divisors
    [P, 1] and the attention pattern [H, P, P]; the final divisor [P, 1]; each transcoder's
    input [P, d] (ln2 normalised) and the true MLP output [P, d]; the residual stream at every
    layer [L + 1, P, d]; the logits [P, vocab]."""

    tokens: torch.Tensor
    ln1_scale: torch.Tensor  # [L, P, 1]
    pattern: torch.Tensor  # [L, H, P, P]
    ln2_scale: torch.Tensor  # [L, P, 1]
    final_scale: torch.Tensor  # [P, 1]
    mlp_in: torch.Tensor  # [L, P, d]
    mlp_out: torch.Tensor  # [L, P, d]
    resid: torch.Tensor  # [L + 1, P, d]
    logits: torch.Tensor  # [P, vocab]

    @classmethod
    @torch.no_grad()
    def of(cls, model: GPT, tokens: torch.Tensor) -> Forward:
        """The forward pass of ``tokens`` [P] (one prefix), read through the hooks."""
        n = model.cfg.n_layers
        kinds = ("ln2_normalized", "mlp_out")
        resid = list(resid_hooks(n).values())
        every = frozen_hooks(n) + [act_name(k, layer) for k in kinds for layer in range(n)]
        logits, cache = model.run_with_cache(tokens[None], every + resid)
        block = lambda kind: torch.stack(  # noqa: E731
            [cache[act_name(kind, layer)][0] for layer in range(n)]
        ).float()
        return cls(
            tokens=tokens,
            ln1_scale=block("ln1_scale"),
            pattern=block("pattern"),
            ln2_scale=block("ln2_scale"),
            final_scale=cache[FINAL_SCALE][0].float(),
            mlp_in=block("ln2_normalized"),
            mlp_out=block("mlp_out"),
            resid=torch.stack([cache[name][0] for name in resid]).float(),
            logits=logits[0].float(),
        )


@dataclass
class Nodes:
    """The replacement model's nodes at one prefix: the active features (``index`` [N, 3] of
    (layer, position, feature), sorted, and their ``activation`` [N]), each block's error
    vectors [L, P, d], and what the transcoders write besides (``bias`` [L, P, d]: ``b_dec``
    plus the skip of the real input), so ``decoded + errors == mlp_out``."""

    index: torch.Tensor
    activation: torch.Tensor
    errors: torch.Tensor
    bias: torch.Tensor

    @classmethod
    @torch.no_grad()
    def of(cls, forward: Forward, transcoders: Transcoders) -> Nodes:
        index, values, errors, bias = [], [], [], []
        for layer in range(len(transcoders)):
            tc = transcoders[layer]
            x = forward.mlp_in[layer]
            features, out = reconstruct(tc, x)
            position, feature = features.nonzero(as_tuple=True)
            index.append(torch.stack([torch.full_like(position, layer), position, feature], 1))
            values.append(features[position, feature].float())
            errors.append(forward.mlp_out[layer] - out.float())
            skip = skip_of(tc)
            bias.append(tc.b_dec.float().expand_as(x) + (0 if skip is None else x @ skip))
        return cls(torch.cat(index), torch.cat(values), torch.stack(errors), torch.stack(bias))


class Medium:
    """The linear paths of one prefix's replacement model, pulled back: readers' vectors at a
    layer become their gradients at earlier layers (rows of a batch [B, P', d], P' the
    positions up to the batch's last reader: later positions are never read back)."""

    def __init__(self, model: GPT, forward: Forward, transcoders: Transcoders) -> None:
        cfg = model.cfg
        self.n_heads, self.d_model = cfg.n_heads, cfg.d_model
        self.forward = forward
        self.value = [b.attn.qkv.weight.detach()[2 * cfg.d_model :].float() for b in model.blocks]
        self.out = [b.attn.out.weight.detach().float() for b in model.blocks]
        self.ln1 = [b.ln1.weight.detach().float() for b in model.blocks]
        skips = [skip_of(transcoders[layer]) for layer in range(cfg.n_layers)]
        self.skip = [None if s is None else s.float() for s in skips]

    def attention(self, g: torch.Tensor, layer: int) -> torch.Tensor:
        """[B, P', d]: the gradient at block ``layer``'s input of ``g``, one at its attention
        output, through the frozen pattern, W_O, W_V, ln1's weight and frozen scale."""
        batch, n_pos, d = g.shape
        pattern = self.forward.pattern[layer][:, :n_pos, :n_pos]  # [H, query, key]
        gz = (g @ self.out[layer]).view(batch, n_pos, self.n_heads, -1)
        gv = torch.einsum("hqk,bqhe->bkhe", pattern, gz).reshape(batch, n_pos, d)
        scale = self.forward.ln1_scale[layer][:n_pos]
        return center((gv @ self.value[layer]) * self.ln1[layer]) / scale

    def through_skip(self, g: torch.Tensor, layer: int) -> torch.Tensor:
        """``g`` at block ``layer``'s output pulled to its middle: itself plus the path
        through the transcoder's skip (none without one)."""
        skip = self.skip[layer]
        if skip is None:
            return g
        return g + center(g @ skip.T) / self.forward.ln2_scale[layer][: g.shape[1]]

    def through_attention(self, g: torch.Tensor, layer: int) -> torch.Tensor:
        """``g`` at block ``layer``'s middle pulled to its input."""
        return g + self.attention(g, layer)
