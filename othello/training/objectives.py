"""What the model is trained to predict: the loss for each ``TrainConfig.target`` and the
legal-move targets it needs.

"sampled" scores the move actually played (Li et al.); "legal" the uniform distribution over
the legal moves (the exact next-move distribution of uniformly random games: the same
expected loss and gradient without the sampling noise); "legal_set" each square on its own,
legal or not (binary cross-entropy: the whole legal set at every position).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from othello.world.labels import replay, unpack_bitboards
from othello.world.squares import N_POSITIONS
from othello.world.tokens import PAD_TOKEN, PLAYABLE_SQUARES, VOCAB_SIZE


def next_move_loss(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    legal_targets: torch.Tensor | None = None,
    target: str = "sampled",
) -> torch.Tensor:
    """The training loss for moves 2..60 given the ones before; padding is not scored.

    ``target`` (see ``TrainConfig.target``): "sampled" scores the token played; "legal" scores
    the uniform distribution over the legal moves, ``legal_targets`` [B, 59, 61]; "legal_set"
    scores each of the 60 squares on its own (binary cross-entropy, legal or not, summed over
    squares), which asks for the whole legal set at every position instead of a share of one
    softmax."""
    logits = model(tokens[:, :-1]).float()
    targets = tokens[:, 1:]
    if target == "sampled":
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD_TOKEN
        )
    if legal_targets is None:
        raise ValueError(f"target {target!r} needs the legal-move targets")
    scored = targets != PAD_TOKEN
    if target == "legal":
        per_position = -(legal_targets * logits.log_softmax(-1)).sum(-1)
    elif target == "legal_set":
        per_position = F.binary_cross_entropy_with_logits(
            logits[..., 1:], (legal_targets[..., 1:] > 0).float(), reduction="none"
        ).sum(-1)
    else:
        raise ValueError(f"unknown target {target!r}")
    return per_position[scored].mean()


def legal_move_targets(moves: np.ndarray) -> torch.Tensor:
    """Uniform distributions over each position's legal next moves, as token probabilities
    [B, 59, 61] (all zero where the game is over)."""
    labels = replay(moves, (moves >= 0).sum(1).astype(np.int8))
    legal = unpack_bitboards(labels.legal[:, :N_POSITIONS])[..., PLAYABLE_SQUARES]
    targets = np.zeros(legal.shape[:2] + (VOCAB_SIZE,), dtype=np.float32)
    targets[..., 1:] = legal
    targets /= np.maximum(targets.sum(-1, keepdims=True), 1)
    return torch.from_numpy(targets)
