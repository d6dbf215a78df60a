"""A decoder-only GPT over move tokens, with TransformerLens-style hook points.

Pre-LayerNorm blocks, learned positional embeddings, causal attention through
``F.scaled_dot_product_attention`` and a GELU MLP, written to be read (after nanoGPT).
Every intermediate a researcher may want to read or edit passes through a :class:`HookPoint`,
named by its place in the module tree exactly as TransformerLens names it
(``blocks.3.hook_resid_pre``, ``blocks.3.attn.hook_pattern``, ...). Two calls use them:
:meth:`GPT.run_with_cache` records chosen hooks, :meth:`GPT.run_with_hooks` runs functions that
may replace them.

Freezing, for a model made linear (attribution graphs, Ameisen et al. 2025; TransformerLens's
direct logit attribution): every LayerNorm's divisor (``blocks.{l}.ln1.hook_scale``,
``ln2.hook_scale``, ``ln_final.hook_scale``, each [batch, pos, 1] = sqrt(var + eps)) and every
attention pattern can be held at given values, so that what remains nonlinear is the MLPs.
Two ways, the same code underneath:

* hooks, for the whole model: ``names = frozen_hooks(n_layers)``
  (:mod:`othello.model.hooks`); ``_, values = model.run_with_cache(tokens, names)`` takes a
  run's values, ``model.run_with_hooks(other, freeze(names, values))``
  (:func:`~othello.model.hooked.freeze`) runs another input through them, and
  ``with model.hooks(freeze(names)): model(tokens).backward()`` keeps each run's own values
  but outside autograd, as circuit-tracer does, so gradients are the linearised model's;
* arguments, for one block or LayerNorm: ``block(x, frozen=Frozen(ln1_scale, pattern,
  ln2_scale))``, ``ln(x, scale)``, ``attn(x, pattern=pattern)``.

Frozen at a run's own values, either computes that run (to float rounding). Reading a scale
through its hook changes nothing: the fused LayerNorm runs unless a scale is given or a hook
replaces it. The default forward pass, training's, is the fused kernels' alone.

Sampling goes through :meth:`GPT.prefill` and :meth:`GPT.step` with a
:class:`~othello.model.kv_cache.KVCache`: the prefix once, then one token per row per call.
The hook points run there too, seeing one position per row: ``[batch, 1, ...]`` (and
``hook_pos_embed`` ``[batch, 1, d_model]``, each row's own position); ``hook_pattern`` during a
step is ``[batch, head, 1, n_ctx]``, zero past each row's position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from othello.model.config import GPTConfig
from othello.model.hooked import HookedModel, HookPoint
from othello.model.init import INIT_STD, normal_init, residual_std
from othello.model.kv_cache import KVCache, LayerSlot, check_positions


class LayerNorm(nn.LayerNorm):
    """LayerNorm with TransformerLens's two hooks: ``hook_scale`` [..., 1], the divisor
    sqrt(var + eps) of the centred input, and ``hook_normalized``, the input centred and
    divided by it (before weight and bias).

    A ``scale`` passed in (frozen: another run's, or this input's own taken out of autograd)
    or a ``hook_scale`` function that returns a replacement makes the output
    (x - mean) / scale * weight + bias, affine in x while the scale stays fixed. Otherwise
    torch's fused ``layer_norm`` computes it, bit for bit as without the hooks: a hook that
    only reads the scale changes nothing, so training pays nothing for it.
    """

    def __init__(self, d: int) -> None:
        super().__init__(d)
        self.hook_scale = HookPoint()  # [..., pos, 1]
        self.hook_normalized = HookPoint()  # [..., pos, d]

    def scale_of(self, x: torch.Tensor) -> torch.Tensor:
        """[..., 1]: what the input ``x`` [..., d] is divided by once centred."""
        return (x.var(-1, unbiased=False, keepdim=True) + self.eps).sqrt()

    @staticmethod
    def normalize(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``x`` centred and divided by ``scale``: linear in ``x`` for a fixed scale (direct
        logit attribution reads each part of the residual stream through it)."""
        return (x - x.mean(-1, keepdim=True)) / scale

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        normalized = None
        if scale is not None or self.hook_scale.fns:
            own = self.scale_of(x) if scale is None else scale
            used = self.hook_scale(own)
            if scale is not None or used is not own:  # frozen or replaced: divide by it
                normalized = self.normalize(x, used)
        if normalized is None:
            normalized = F.layer_norm(x, self.normalized_shape, eps=self.eps)
        return self.hook_normalized(normalized) * self.weight + self.bias


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.hook_pattern = HookPoint()  # [batch, head, query, key]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]: per-head outputs before W_O

    def forward(
        self,
        x: torch.Tensor,
        slot: LayerSlot | None = None,
        pattern: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Causal self-attention of the normalised stream ``x`` [batch, pos, d_model].

        ``pattern`` [batch, head, query, key] (frozen) replaces the softmax of the scores, so
        the output is linear in ``x`` (through the values alone). With a ``slot`` (inference
        only) a prefill also stores its keys and values, and a step (``slot.positions`` set)
        writes its own and attends over the stored ones (its pattern is [batch, head, 1,
        n_ctx]).
        """
        batch, n_pos, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=2)
        q, k, v = (t.view(batch, n_pos, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        seen = None
        if slot is not None and slot.positions is not None:
            k, v, seen = slot.step(k, v)
        elif slot is not None:
            slot.store_prefix(k, v)
        if seen is None and pattern is None and not self.hook_pattern.fns:
            dropout = self.dropout if self.training else 0.0
            z = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # a step, a frozen pattern or a hook on it: the pattern written out
            if seen is None:
                seen = torch.ones(n_pos, n_pos, dtype=torch.bool, device=x.device).tril()
            z = self.attend(q, k, v, seen, pattern)
        z = self.hook_z(z.transpose(1, 2))
        return self.out(z.reshape(batch, n_pos, d_model))

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        seen: torch.Tensor,
        pattern: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-head outputs [batch, head, query, d_head] through the pattern (softmax of the
        scaled scores over the keys ``seen`` [..., query, key] lets through, unless given),
        which passes through ``hook_pattern``. For one query per row (a step) this is twice
        as fast on a CPU as ``scaled_dot_product_attention``, whose flash kernel blocks over
        queries."""
        if pattern is None:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            pattern = scores.masked_fill(~seen, float("-inf")).softmax(-1)
        pattern = self.hook_pattern(pattern)
        return F.dropout(pattern, self.dropout, self.training) @ v


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc_in = nn.Linear(cfg.d_model, cfg.mlp_width)
        self.fc_out = nn.Linear(cfg.mlp_width, cfg.d_model)
        self.hook_post = HookPoint()  # after the GELU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.hook_post(F.gelu(self.fc_in(x))))


@dataclass(frozen=True)
class Frozen:
    """What a block takes as given instead of computing it from its input (None: computed):
    each LayerNorm's scale [batch, pos, 1] and the attention pattern [batch, head, query,
    key]. Frozen at a run's own values (``blocks.{l}.ln1.hook_scale``, ``attn.hook_pattern``,
    ``ln2.hook_scale`` of its cache) the block computes that run; on another input, the
    attention sublayer is then affine in the block's input, the MLP the only nonlinearity."""

    ln1_scale: torch.Tensor | None = None
    pattern: torch.Tensor | None = None
    ln2_scale: torch.Tensor | None = None


class Block(nn.Module):
    """Pre-LayerNorm: x + attn(ln1(x)), then + mlp(ln2(.)). ``hook_mlp_in`` is
    TransformerLens's: the MLP's input before ``ln2`` (the middle residual stream); an edit
    there reaches the MLP only, not the residual stream past it."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_in = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(
        self, x: torch.Tensor, slot: LayerSlot | None = None, frozen: Frozen = Frozen()
    ) -> torch.Tensor:
        """The block on ``x`` [batch, pos, d_model]: the model's forward pass, a prefill or a
        step (``slot``, see :class:`Attention`), with any of ``frozen``'s values."""
        x = self.hook_resid_pre(x)
        attn = self.attn(self.ln1(x, frozen.ln1_scale), slot, frozen.pattern)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.drop(attn)))
        mlp = self.mlp(self.ln2(self.hook_mlp_in(x), frozen.ln2_scale))
        return self.hook_resid_post(x + self.hook_mlp_out(self.drop(mlp)))


class GPT(HookedModel):
    """The transformer of Li et al. and Nanda et al.: the model kind ``gpt``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.n_ctx, cfg.d_model))
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.name_hook_points()
        self.apply(normal_init)
        nn.init.normal_(self.pos_embed, std=INIT_STD)
        for block in self.blocks:  # GPT-2's scaled init of the projections into the residual
            for proj in (block.attn.out, block.mlp.fc_out):
                nn.init.normal_(proj.weight, std=residual_std(cfg.n_layers))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [batch, pos, vocab] for token ids [batch, pos] (pos <= n_ctx)."""
        n_pos = tokens.shape[1]
        self.check_length(n_pos)
        return self._run(tokens, self.pos_embed[:n_pos])

    def _run(
        self,
        tokens: torch.Tensor,
        pos_embed: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of ``tokens`` [batch, pos] at ``pos_embed``; with a cache, the attention
        layers store (prefill, ``positions`` None) or use (step) its keys and values."""
        x = self.hook_embed(self.embed(tokens)) + self.hook_pos_embed(pos_embed)
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache.slot(layer, positions))
        return self.unembed(self.ln_final(x))

    def new_cache(
        self, batch: int, device: torch.device | str = "cpu", n_ctx: int | None = None
    ) -> KVCache:
        return KVCache(self.cfg, batch, device, n_ctx=n_ctx)

    def cache_row_bytes(self) -> int:
        itemsize = self.unembed.weight.dtype.itemsize  # keys and values in the model's dtype
        return 2 * self.cfg.n_layers * self.cfg.n_ctx * self.cfg.d_model * itemsize

    def prefill(
        self, tokens: torch.Tensor, cache: KVCache, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits [batch, T, vocab] of ``tokens`` [batch, T], exactly as :meth:`forward`,
        storing every layer's keys and values of positions 0..T-1 in ``cache``.

        Inference only (call under ``torch.no_grad`` with the model in eval mode). Rows may be
        right-padded (``lengths`` is not needed): a row whose real length is L < T keeps junk
        keys at L..T-1, which the row's later :meth:`step` calls (at positions L, L + 1, ...)
        overwrite before reading.
        """
        batch, n_pos = tokens.shape
        self.check_length(n_pos)
        if cache.batch != batch:
            raise ValueError(f"cache holds {cache.batch} rows, tokens have {batch}")
        return self._run(tokens, self.pos_embed[:n_pos], cache)

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits [batch, vocab] of one new token per row: ``tokens[b]`` sits at
        ``positions[b]`` (long, < n_ctx, may differ per row), its key and value are written
        there in row ``b`` of ``cache`` and it attends to keys 0..positions[b] of that row.

        Inference only, like :meth:`prefill`; keys 0..positions[b] - 1 of each row must have
        been written by a prefill or earlier steps.
        """
        check_positions(positions, cache.batch, cache.n_ctx)
        if tokens.shape != positions.shape:
            raise ValueError(f"tokens {tuple(tokens.shape)} and positions differ in shape")
        pos_embed = self.pos_embed[positions][:, None]
        return self._run(tokens[:, None], pos_embed, cache, positions)[:, 0]
