"""Sparse autoencoders (and transcoders) on one hook of a model, in SAELens's on-disk layout.

An SAE reads the activation at an input hook and reconstructs the activation at an output
hook: the same hook for a sparse autoencoder, two for a transcoder (which reads, say, the
MLP's normalised input and reconstructs its output). Every architecture
(:mod:`probes.sae.architectures`: TopK and ReLU + L1 built in) encodes
``(x - b_dec) @ W_enc + b_enc`` through its own activation (``x @ W_enc + b_enc`` where the
architecture does not apply ``b_dec`` to its input, as SAELens's transcoders do not) and
decodes as ``features @ W_dec + b_dec``, with SAELens's names and arithmetic so
``sae_lens.SAE.load_from_disk`` reads what we write and computes the same features; a
transcoder's ``cfg.json`` also holds ``d_out`` and its output hook as ``metadata.hook_name_out``.
A JumpReLU architecture keeps a ``threshold`` per feature (its features: the ReLU's, zero
where the pre-activation is not above it) and a skip one a ``W_skip`` [d_out, d_in] whose
``x @ W_skip.T`` the reconstruction adds, both under SAELens's names.
Training sees the input and the target each scaled to a mean squared norm of its width (so
one learning rate and L1 coefficient suit every layer and model; one scale for both where
``b_dec`` is applied to the input), with ``W_dec``'s rows (one per feature) kept at unit norm,
so a feature's activation is its contribution's length and the L1 penalty cannot be dodged by
shrinking the encoder while growing the decoder. The saved SAE has those scales folded into
its weights: it reads raw activations and computes the same features (its decoder rows then
all have norm 1/scale of the target).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from othello.common.atomic import commit, partial_path, write_text
from othello.common.errors import UserError
from othello.common.files import SAE_CFG, SAE_WEIGHTS
from probes.sae.architectures import ARCHITECTURES, architecture, jump_gate


@dataclass
class SAEConfig:
    """One sparse autoencoder and how it is trained (``key=value`` settings of train_sae.py)."""

    architecture: str = "topk"
    expansion: int = 8  # features per residual dimension: d_sae = expansion * d_in
    k: int = 16  # topk: features active per position
    l1_coefficient: float = 2.0  # standard: L1 weight, on activations of mean squared norm d_in
    # 10 passes at lr 3e-3: better explained variance on the cpu cache's validation games than
    # 5 passes or lr 1e-3, and lr 1e-2 left a quarter of the features dead (docs/benchmarks.md)
    epochs: int = 10  # passes over the cache's training positions
    batch_positions: int = 1024
    lr: float = 3e-3
    chunk_games: int = 512  # games read from the cache at a time (memory: one chunk)
    dead_after: int = 100_000  # positions without firing after which a feature counts as dead
    aux_k: int = 256  # topk: dead features the auxiliary loss lets reconstruct the residual
    aux_coefficient: float = 1 / 32  # topk: weight of the auxiliary loss (Gao et al.)
    resample_every: int = 500  # standard: steps between resamplings of dead features
    # jumprelu: Anthropic's penalty lambda * sum tanh(c * f * |W_dec|), on targets of mean
    # squared norm d_out; the pre-activation loss on dead features; the first threshold
    sparsity_coefficient: float = 0.1
    tanh_scale: float = 4.0
    preact_coefficient: float = 1e-3
    threshold_init: float = 0.01
    checkpoint_every: int = 200  # steps between checkpoints (resume after a kill)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        architecture(self.architecture)  # a registered one
        if self.expansion < 1 or self.k < 1 or self.epochs < 1 or self.batch_positions < 1:
            raise UserError("expansion, k, epochs and batch_positions must be >= 1")

    def check_width(self, d_in: int) -> int:
        """d_sae for a residual stream of width ``d_in``; k must fit in it."""
        d_sae = self.expansion * d_in
        if ARCHITECTURES[self.architecture].uses_k and self.k > d_sae:
            raise UserError(f"k={self.k} is larger than the SAE's width {d_sae}")
        return d_sae


class SparseAutoencoder(nn.Module):
    """``d_in`` wide input, ``d_sae`` features, ``d_out`` wide reconstruction (``d_in`` unless
    it is a transcoder's output of another width)."""

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        architecture: str = "topk",
        k: int = 16,
        d_out: int | None = None,
    ) -> None:
        super().__init__()
        self.d_in, self.d_sae, self.architecture, self.k = d_in, d_sae, architecture, k
        self.d_out = d_in if d_out is None else d_out
        self.apply_b_dec_to_input = ARCHITECTURES[architecture].apply_b_dec_to_input
        if self.apply_b_dec_to_input and self.d_out != d_in:
            raise UserError(
                f"a {architecture} SAE subtracts b_dec from its input, so it cannot read "
                f"{d_in} dimensions and write {self.d_out}"
            )
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, self.d_out))
        self.b_dec = nn.Parameter(torch.zeros(self.d_out))
        kind = ARCHITECTURES[architecture]
        self.threshold = nn.Parameter(torch.zeros(d_sae)) if kind.jump else None
        self.W_skip = nn.Parameter(torch.zeros(self.d_out, d_in)) if kind.skip else None

    def initialise(
        self, generator: torch.Generator, data_mean: torch.Tensor, threshold: float = 0.0
    ) -> None:
        """Random unit-norm decoder rows, the encoder their transpose (its own random unit
        columns where the widths differ), ``b_dec`` the target's mean (so the first
        reconstructions start at the centre of the data), every threshold ``threshold`` and
        the skip zero."""
        with torch.no_grad():
            w = torch.randn(self.d_sae, self.d_out, generator=generator)
            self.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
            if self.d_out == self.d_in:
                self.W_enc.copy_(self.W_dec.T)
            else:
                w = torch.randn(self.d_sae, self.d_in, generator=generator)
                self.W_enc.copy_((w / w.norm(dim=1, keepdim=True)).T)
            self.b_dec.copy_(data_mean)
            if self.threshold is not None:
                self.threshold.fill_(threshold)
            if self.W_skip is not None:
                self.W_skip.zero_()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.b_dec if self.apply_b_dec_to_input else x) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        features = architecture(self.architecture).activate(pre, self.k)
        return features if self.threshold is None else features * jump_gate(pre, self.threshold)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.pre_activations(x))

    def decode(self, features: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The reconstruction of ``features``; a skip transcoder's adds its input ``x``'s
        skip term."""
        out = features @ self.W_dec + self.b_dec
        if self.W_skip is None:
            return out
        if x is None:
            raise ValueError("a skip transcoder decodes with its input: decode(features, x)")
        return out + x @ self.W_skip.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8))

    @torch.no_grad()
    def fold_scales(self, scale_in: float, scale_out: float) -> None:
        """An SAE trained to map ``x * scale_in`` to ``y * scale_out`` made to read ``x`` and
        write ``y`` themselves, with the same features: ``(x s) W = x (s W)``,
        ``(f W + b)/t = f (W/t) + b/t``, and where ``b_dec`` is applied to the input (then
        ``s = t``) ``(x s - b) W = (x - b/s)(s W)``; the pre-activations, so the thresholds,
        stay as trained; a skip ``(x s) S / t = x (S s / t)``."""
        self.W_enc.mul_(scale_in)
        self.W_dec.div_(scale_out)
        self.b_dec.div_(scale_out)
        if self.W_skip is not None:
            self.W_skip.mul_(scale_in / scale_out)


def save_sae(sae: SparseAutoencoder, out: str | os.PathLike, metadata: dict) -> Path:
    """``cfg.json`` + ``sae_weights.safetensors`` in SAELens's layout (``metadata``: what the
    SAE was trained on: ``hook`` (its input), ``hook_out`` where it is a transcoder's other
    output hook, layer, model and cache hashes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hooks = {"hook_name": metadata.get("hook")}
    if metadata.get("hook_out", hooks["hook_name"]) != hooks["hook_name"]:
        hooks["hook_name_out"] = metadata["hook_out"]
    cfg = {
        "architecture": sae.architecture,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        **({"d_out": sae.d_out} if "hook_name_out" in hooks else {}),
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": sae.apply_b_dec_to_input,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {**hooks, "model_name": "othello-gpt", **metadata},
    }
    cfg.update(architecture(sae.architecture).cfg_keys(sae))
    state = {k: v.detach().contiguous().cpu() for k, v in sae.state_dict().items()}
    partial = partial_path(out / SAE_WEIGHTS)
    save_file(state, str(partial))
    commit(partial, out / SAE_WEIGHTS)
    write_text(out / SAE_CFG, json.dumps(cfg, indent=1) + "\n")
    return out


def sae_hooks(cfg: dict) -> tuple[str, str]:
    """(input hook, output hook) of a saved SAE's ``cfg.json``: the same hook for an SAE."""
    hook = cfg["metadata"]["hook_name"]
    return hook, cfg["metadata"].get("hook_name_out", hook)


def load_sae(folder: str | os.PathLike) -> tuple[SparseAutoencoder, dict]:
    """An SAE saved by :func:`save_sae` (or by SAELens, for these two architectures); its
    hooks are :func:`sae_hooks` of the cfg returned."""
    folder = Path(folder)
    for name in (SAE_CFG, SAE_WEIGHTS):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name}: missing; not an SAE folder")
    cfg = json.loads((folder / SAE_CFG).read_text())
    if cfg["architecture"] not in ARCHITECTURES:
        raise UserError(
            f"{folder}: architecture {cfg['architecture']!r} is not one of {sorted(ARCHITECTURES)}"
        )
    sae = SparseAutoencoder(
        cfg["d_in"], cfg["d_sae"], cfg["architecture"], cfg.get("k", 0), cfg.get("d_out")
    )
    sae.load_state_dict(load_file(str(folder / SAE_WEIGHTS)))
    return sae.eval(), cfg


def config_dict(cfg: SAEConfig) -> dict:
    return asdict(cfg)
