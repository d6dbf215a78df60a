"""The model kind ``lstm``: PyTorch's own LSTM layers, one per residual block
(:mod:`othello.model.recurrent`). Block l adds ``W_out h_l`` to the stream, where ``h_l`` is the
LSTM's hidden state over ``LayerNorm(x)``; Vafa et al. (ICML 2025) and Li et al.'s baselines
compare such recurrent models with the transformer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from othello.model.config import LSTMConfig
from othello.model.init import INIT_STD
from othello.model.recurrent import RecurrentModel, ResidualBlock


class LSTMBlock(ResidualBlock):
    """``W_out LSTM(LayerNorm(x))``; its state per row is the LSTM's (h, c)."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.lstm = nn.LSTM(cfg.d_model, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        # cuDNN refuses an RNN's backward in eval mode, which attribution patching and the
        # gradient editor need: on a GPU, such a pass takes PyTorch's own kernels
        with torch.backends.cudnn.flags(enabled=self.training or not torch.is_grad_enabled()):
            return self.drop(self.out(self.lstm(x)[0]))

    def mix_prefill(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        packed = pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, (h, c) = self.lstm(packed)
        out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        empty = (lengths == 0)[:, None]  # no position read: the initial (zero) state
        return self.drop(self.out(out)), [h[0].masked_fill(empty, 0), c[0].masked_fill(empty, 0)]

    def mix_step(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, (hn, cn) = self.lstm(x[:, None], (state[0][None], state[1][None]))
        return self.out(h[:, 0]), [hn[0], cn[0]]

    def initial_state(self, batch: int, device: torch.device | str) -> list[torch.Tensor]:
        weight = self.out.weight
        zeros = torch.zeros(batch, self.lstm.hidden_size, device=device, dtype=weight.dtype)
        return [zeros, zeros.clone()]

    def state_numbers(self) -> int:
        return 2 * self.lstm.hidden_size


class LSTM(RecurrentModel):
    """Embedding, ``n_layers`` LSTM blocks, LayerNorm, unembedding."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__(cfg, LSTMBlock, nn.LayerNorm(cfg.d_model))
        nn.init.normal_(self.embed.weight, std=INIT_STD)
        nn.init.normal_(self.unembed.weight, std=INIT_STD)
        nn.init.zeros_(self.unembed.bias)
