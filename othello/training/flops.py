"""Model FLOPs per token and the accelerator's peak, for model FLOPs utilisation (MFU).

MFU = tokens/s x FLOPs per token / peak FLOP/s: the share of the hardware's dense peak that
the model's own arithmetic uses (rematerialisation, padding and data loading excluded). The
peak is taken from the GPU's name (dense bf16 with autocast, dense TF32 without) unless given.
"""

from __future__ import annotations

import torch

from othello.model.config import ModelConfig
from othello.model.kinds import build_model

# dense (not sparse) tensor-core peaks in TFLOP/s, from the vendors' data sheets
PEAK_TFLOPS = {
    # name fragment: (bf16, tf32)
    "H200": (989.0, 494.0),
    "H100 PCIe": (756.0, 378.0),
    "H100": (989.0, 494.0),  # SXM
    "A100": (312.0, 156.0),
    "L40S": (362.0, 183.0),
    "A10G": (70.0, 35.0),
}


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6 N for the weight matrices (forward and backward; the
    embeddings are lookups), plus for a GPT attention's 12 L T d (PaLM, appendix B); a
    recurrent kind's elementwise recurrence (the LSTM's gates, Mamba's scan) is not counted."""
    if cfg.kind != "gpt":
        model = build_model(cfg)
        return 6 * sum(
            p.numel() for n, p in model.named_parameters() if p.dim() >= 2 and n != "embed.weight"
        )
    d, layers = cfg.d_model, cfg.n_layers
    per_block = 4 * d * d + 2 * d * cfg.mlp_width  # attention projections and the MLP
    unembed = d * cfg.vocab_size
    return 6 * (layers * per_block + unembed) + 12 * layers * cfg.n_ctx * d


def peak_flops(device: torch.device, bf16: bool, given_tflops: float = 0.0) -> float | None:
    """The device's dense peak in FLOP/s: ``given_tflops`` if set, else looked up from the GPU's
    name; None for a CPU or an unknown GPU (MFU is then not reported)."""
    if given_tflops:
        return given_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (bf16_peak, tf32_peak) in PEAK_TFLOPS.items():
        if fragment in name:
            return (bf16_peak if bf16 else tf32_peak) * 1e12
    return None
