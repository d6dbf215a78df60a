"""Our graphs beside circuit-tracer's (``pip install circuit-tracer``, 0.5: an environment of
its own, with transformers <= 4.57.3 and TransformerLens 3.x): the same model, transcoders,
prefix and target through both, the adjacency matrices compared edge by edge and each timed.

How the two are bridged:

* the model: our GPT's TransformerLens state dict (:func:`othello.interop.formats.
  to_transformer_lens`) loaded into circuit-tracer's ``TransformerLensReplacementModel``
  (whose MLPs and unembedding it wraps: their keys gain ``old_mlp.`` / ``old_unembed.``), the
  attention mask buffers being the installed TransformerLens's own;
* the transcoders: circuit-tracer's ``transcoder_set`` layout, written by the transcoder
  stage's own export (:func:`probes.transcoders.circuit_tracer.write_circuit_tracer`);
* position 0: circuit-tracer prepends a special token unless the prefix starts with one, and
  zeroes every feature and error at position 0. Our prefixes start with a move and our model
  never saw another token there, so the tokenizer stand-in (:class:`MoveTokenizer`, our 61
  tokens) names the prefix's first move special: nothing is prepended, positions line up, and
  circuit-tracer drops position 0's features and errors where we keep them. Edges are compared
  between the nodes both graphs have: features and errors at positions 1 on, every token;
* the target: circuit-tracer's custom target with our unembedding row (not demeaned), which
  it injects after the final LayerNorm as we do.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from othello.interop.formats import to_transformer_lens
from othello.model.gpt import GPT
from othello.model.hooks import BLOCK_HOOKS, block_prefix
from othello.world.squares import square_name
from othello.world.tokens import VOCAB_SIZE, decode, encode
from probes.graphs.attribution import attribute
from probes.graphs.influence import NodeLayout, scores
from probes.graphs.replacement import Forward
from probes.graphs.targets import move_target
from probes.graphs.transcoders import Transcoders
from probes.transcoders.circuit_tracer import circuit_tracer_config, write_circuit_tracer

INPUT_HOOK, OUTPUT_HOOK = BLOCK_HOOKS["ln2_normalized"], BLOCK_HOOKS["mlp_out"]


class MoveTokenizer:
    """The little of a tokenizer circuit-tracer asks for, over our move tokens; ``special``:
    the ids it takes as special (the prefix's first move, see the module docstring)."""

    bos_token_id = pad_token_id = eos_token_id = None
    padding_side = "right"
    vocab_size = VOCAB_SIZE

    def __init__(self, special: list[int]) -> None:
        self.all_special_ids = list(special)

    def decode(self, ids) -> str:
        ids = ids.tolist() if torch.is_tensor(ids) else ids
        ids = [ids] if isinstance(ids, int) else ids
        return " ".join("pad" if s < 0 else square_name(int(s)) for s in decode(ids))


def replacement_model(model: GPT, config: dict, special: list[int]):
    """circuit-tracer's TransformerLens replacement model of our GPT and the exported
    transcoders (``config``)."""
    from circuit_tracer.replacement_model.replacement_model_transformerlens import (
        TransformerLensReplacementModel,
    )
    from circuit_tracer.utils.hf_utils import load_transcoders
    from transformer_lens import HookedTransformerConfig

    state, keywords = to_transformer_lens(model)  # the installed TransformerLens's mask
    set_ = load_transcoders(config, torch.device("cpu"), lazy_encoder=False,
                            lazy_decoder=False)  # fmt: skip
    tl = TransformerLensReplacementModel.from_config(
        HookedTransformerConfig(**keywords, device="cpu"), set_
    )
    wrapped = {**tl.state_dict()}
    for key, value in state.items():
        key = key.replace("unembed.", "unembed.old_unembed.")
        for layer in range(model.cfg.n_layers):
            key = key.replace(f"{block_prefix(layer)}mlp.", f"{block_prefix(layer)}mlp.old_mlp.")
        if key not in wrapped:
            raise KeyError(f"circuit-tracer's model has no {key}")
        wrapped[key] = value
    tl.load_state_dict(wrapped, strict=True)
    tl.tokenizer = MoveTokenizer(special)
    return tl.eval()


def compare(model: GPT, transcoders: Transcoders, tokens: torch.Tensor, square: int, folder: Path):
    """Both graphs of ``tokens`` for the move ``square``: the largest difference of their
    shared edges (absolute, and over the largest edge), both pairs of scores (ours on
    circuit-tracer's matrix, which checks our influence code on its graph) and each one's
    seconds (the model and transcoders loaded before either clock starts)."""
    from circuit_tracer import attribute as tracer_attribute
    from circuit_tracer.attribution.targets import CustomTarget
    from circuit_tracer.graph import compute_graph_scores

    write_circuit_tracer(transcoders, folder, "othello-gpt")
    tl = replacement_model(model, circuit_tracer_config(folder), [int(tokens[0])])
    start = time.perf_counter()
    ours = attribute(model, transcoders, Forward.of(model, tokens), move_target(
        model, Forward.of(model, tokens), square))  # fmt: skip
    ours_seconds = time.perf_counter() - start
    row = tl.unembed.W_U[:, int(encode(square))].detach()
    start = time.perf_counter()
    theirs = tracer_attribute(tokens, tl, attribution_targets=[CustomTarget(
        square_name(square), 1.0, row)], batch_size=256)  # fmt: skip
    tracer_seconds = time.perf_counter() - start
    ours_part, theirs_part = shared_edges(ours, theirs.active_features, theirs.adjacency_matrix)
    diff = (ours_part - theirs_part).abs().max()
    n_layers, n_pos = ours.n_layers, ours.n_pos
    layout = NodeLayout(len(theirs.active_features), n_layers * n_pos, n_pos)
    return {
        "max_abs_difference": float(diff),
        "relative_difference": float(diff / theirs_part.abs().max()),
        "edges_compared": int(ours_part.numel()),
        "scores_ours_on_theirs": scores(theirs.adjacency_matrix, layout),
        "scores_theirs": dict(
            zip(("replacement", "completeness"), compute_graph_scores(theirs), strict=True)
        ),  # fmt: skip
        "seconds_ours": ours_seconds,
        "seconds_circuit_tracer": tracer_seconds,
    }


def shared_edges(ours, their_features: torch.Tensor, their_adjacency: torch.Tensor):
    """The two adjacency matrices restricted to the nodes both have, in one order: features
    and error nodes at positions 1 on, token embeddings, the target (circuit-tracer's node
    order; our position embeddings, position 0's features and errors left out); rows are the
    features' and the target's."""
    keys = {tuple(k): i for i, k in enumerate(ours.features.tolist())}
    theirs = [tuple(k) for k in their_features.tolist()]
    if set(theirs) != {k for k in keys if k[1] >= 1}:
        raise AssertionError("the two graphs' active features at positions 1 on differ")
    n_f, n_layers, n_pos = len(theirs), ours.n_layers, ours.n_pos
    pairs = [(keys[k], j) for j, k in enumerate(theirs)]
    pairs += [(ours.error_node(layer, p), n_f + layer * n_pos + p)
              for layer in range(n_layers) for p in range(1, n_pos)]  # fmt: skip
    inputs, their_inputs = ours.layout.span("inputs").start, n_f + n_layers * n_pos
    pairs += [(inputs + p, their_inputs + p) for p in range(n_pos)]
    pairs.append((ours.layout.size - 1, their_adjacency.shape[0] - 1))
    mine, them = (torch.tensor(column) for column in zip(*pairs, strict=True))
    rows = torch.tensor([*range(n_f), len(pairs) - 1])
    return ours.adjacency[mine][:, mine][rows], their_adjacency[them][:, them][rows]
