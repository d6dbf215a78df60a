"""Direct logit attribution: every logit split exactly into what wrote it into the residual.

The final residual stream is a sum: token embedding + position embedding + for each block,
each head's output (its ``hook_z`` through its slice of ``W_O``) + the attention output's bias
+ the MLP's output. The final LayerNorm is not linear, so, as TransformerLens does, its scale
is frozen at the value it takes on the full stream (the model's own ``ln_final.hook_scale``,
read from the run): each part is centred and divided by that scale (``ln_final.normalize``),
multiplied by the LayerNorm weight and read through the unembedding; the LayerNorm bias and
the unembedding bias are one constant part. The parts then sum to the logits exactly (the
tests check 1e-4), so "head L1H2 contributes +3.1 to the predicted move" is a statement about
the model's own arithmetic, not an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from othello.model.evaluate import square_scores
from othello.model.gpt import GPT
from othello.model.hooks import EMBED, FINAL_SCALE, POS_EMBED, act_name
from othello.world.tokens import PLAYABLE_MASK
from probes.circuits.positions import N_POSITIONS


def part_names(model: GPT) -> list[str]:
    """The parts' names, in the order of :func:`logit_parts`' third axis."""
    names = ["embed", "pos_embed"]
    for layer in range(model.cfg.n_layers):
        names += [f"L{layer}H{h}" for h in range(model.cfg.n_heads)]
        names += [f"L{layer} attn bias", f"L{layer} mlp"]
    return names + ["constant"]


def attribution_hooks(model: GPT) -> list[str]:
    hooks = [EMBED, POS_EMBED, FINAL_SCALE]
    for layer in range(model.cfg.n_layers):
        hooks += [act_name("z", layer), act_name("mlp_out", layer)]
    return hooks


def head_outputs(model: GPT, layer: int, z: torch.Tensor) -> torch.Tensor:
    """[..., head, d_model]: each head's write into the residual (z [..., head, d_head]
    through its columns of the output projection, without the bias)."""
    cfg = model.cfg
    w_o = model.blocks[layer].attn.out.weight.view(cfg.d_model, cfg.n_heads, cfg.d_head)
    return torch.einsum("...he,dhe->...hd", z, w_o)


@torch.no_grad()
def logit_parts(model: GPT, cache: dict[str, torch.Tensor]) -> torch.Tensor:
    """[batch, pos, parts, vocab]: each part's contribution to every logit, from a cache of
    :func:`attribution_hooks`; the parts (:func:`part_names`) sum to the model's logits."""
    ln = model.ln_final
    scale = cache[FINAL_SCALE]  # [batch, pos, 1]
    w_u = model.unembed.weight  # [vocab, d_model]

    def through(part: torch.Tensor, extra: int = 0) -> torch.Tensor:
        frozen = scale.view(*scale.shape, *([1] * extra))
        return (ln.normalize(part, frozen) * ln.weight) @ w_u.T

    embed = cache[EMBED]
    parts = [through(embed), through(cache[POS_EMBED].expand_as(embed))]
    for layer in range(model.cfg.n_layers):
        heads = head_outputs(model, layer, cache[act_name("z", layer)])
        parts += list(through(heads, 1).unbind(2))
        parts.append(through(model.blocks[layer].attn.out.bias.expand_as(embed)))
        parts.append(through(cache[act_name("mlp_out", layer)]))
    constant = ln.bias @ w_u.T + model.unembed.bias
    parts.append(constant.expand_as(parts[0]))
    return torch.stack(parts, dim=2)


@dataclass
class AttributionSums:
    """Running sums by move number of the parts of: the predicted move's logit, the mean
    logit of the legal moves, and that mean minus the illegal squares' mean (what makes
    legal moves stand out)."""

    n_parts: int
    counts: np.ndarray = field(init=False)
    sums: dict[str, np.ndarray] = field(init=False)
    max_error: float = 0.0  # largest |sum of parts - logit| seen

    def __post_init__(self) -> None:
        self.counts = np.zeros(N_POSITIONS, np.int64)
        shape = (N_POSITIONS, self.n_parts)
        self.sums = {k: np.zeros(shape) for k in ("predicted", "legal", "legal_minus_illegal")}

    def add(self, parts: torch.Tensor, logits: torch.Tensor, legal, scored) -> None:
        """parts [B, P, parts, 61], logits [B, P, 61], legal bool [B, P, 64], scored [B, P]."""
        self.max_error = max(self.max_error, float((parts.sum(2) - logits).detach().abs().max()))
        b, p = np.nonzero(scored)
        at = (torch.as_tensor(b, device=parts.device), torch.as_tensor(p, device=parts.device))
        sq = square_scores(parts[at].double(), 0.0).cpu().numpy()  # [n, parts, 64]
        best = square_scores(logits[at].float(), -torch.inf).argmax(-1).cpu().numpy()
        legal = legal & PLAYABLE_MASK
        illegal = ~legal & PLAYABLE_MASK
        lg, il = legal[b, p][:, None, :], illegal[b, p][:, None, :]
        legal_mean = (sq * lg).sum(-1) / np.maximum(lg.sum(-1), 1)
        values = {
            "predicted": sq[np.arange(len(b)), :, best],
            "legal": legal_mean,
            "legal_minus_illegal": legal_mean - (sq * il).sum(-1) / np.maximum(il.sum(-1), 1),
        }
        np.add.at(self.counts, p, 1)
        for key, v in values.items():
            np.add.at(self.sums[key], p, v)

    def summary(self, names: list[str]) -> dict:
        """attribution.json: per kind, the mean part over every position and by move."""
        n = np.maximum(self.counts, 1)[:, None]
        out: dict = {
            "parts": names,
            "positions": int(self.counts.sum()),
            "max_abs_sum_error": self.max_error,
        }
        for key, s in self.sums.items():
            out[key] = {
                "mean": (s.sum(0) / max(self.counts.sum(), 1)).round(5).tolist(),
                "by_move": (s / n).round(5).tolist(),
            }
        return out
