"""How exactly each tool that opens our Hugging Face folder computes our GPT: a run exported
with ``convert_checkpoint.py export --format hf`` and loaded in ``transformers``
(``AutoModelForCausalLM``), nnsight (``LanguageModel``), TransformerLens 4
(``TransformerBridge.boot_transformers``) and back into ours (``othello.load_model``); for each,
the largest absolute logit difference from our model over held-out games, and the time to load;
then float32's own rounding (ours in float32 vs float64) and the mapping in float64.
The tokenizer is checked on the same games' text. Needs the ``hf`` and ``tl`` extras.

    python benchmarks/bench_hf_tools.py --run data/runs/cpu --games data/games-cpu-seed0.h5 \
        [--n-games 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import othello
from othello.corpora.corpus import GamesFile
from othello.interop.formats.runs import export_hf_run
from othello.model.hooks import BLOCK_HOOKS, EMBED, POS_EMBED, act_name, block_hooks
from othello.world.squares import N_POSITIONS, square_name
from othello.world.tokens import decode, encode


def loaders(folder: str) -> dict:
    """Each tool's model of ``folder`` as a function of token ids -> logits."""
    from nnsight import LanguageModel
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM

    def nnsight_logits(lm):
        def run(x):
            with lm.trace(x):
                logits = lm.output.logits.save()
            return logits

        return run

    return {
        "transformers": lambda: (lambda m: lambda x: m(x).logits)(
            AutoModelForCausalLM.from_pretrained(folder).eval()
        ),
        "nnsight": lambda: nnsight_logits(LanguageModel(folder, device_map="cpu", dispatch=True)),
        "transformer_lens": lambda: TransformerBridge.boot_transformers(folder, device="cpu"),
        "othello (back)": lambda: othello.load_model(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--games", required=True)
    parser.add_argument("--n-games", type=int, default=200)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    with GamesFile(args.games) as games:
        moves = games.moves[games.select("test", args.n_games)]
    tokens = torch.as_tensor(encode(moves[:, :N_POSITIONS]))
    ours = othello.load_model(args.run)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        start = time.perf_counter()
        folder = str(export_hf_run(args.run, Path(tmp) / "hf"))
        print(f"exported in {time.perf_counter() - start:.2f} s")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        texts = [
            " ".join(square_name(int(s)) for s in decode(row) if s >= 0) for row in tokens.numpy()
        ]
        ids = tokenizer(texts, padding="max_length", max_length=N_POSITIONS, truncation=True)
        same = torch.equal(torch.as_tensor(ids["input_ids"]), tokens)
        print(f"{args.run}: {ours.cfg.describe()}; {len(tokens)} test games of {args.games}")
        print(f"tokenizer ids equal ours on every game: {same}")
        reference = ours(tokens)
        for name, load in loaders(folder).items():
            start = time.perf_counter()
            model = load()
            loaded = time.perf_counter() - start
            diff = (model(tokens) - reference).abs().max().item()
            print(f"{name:>18}: max |logit difference| {diff:.3g} (loaded in {loaded:.1f} s)")
        activations(ours, folder, tokens[:50])
        in_float64(ours, folder, tokens, reference)


def activations(ours, folder: str, tokens: torch.Tensor) -> None:
    """Activations by our hook names: every one TransformerLens 4's bridge caches, and each
    block's output read by nnsight (our ``resid_post``)."""
    from nnsight import LanguageModel
    from transformer_lens.model_bridge import TransformerBridge

    n = ours.cfg.n_layers
    hooks = [EMBED, POS_EMBED] + [h for name in BLOCK_HOOKS for h in block_hooks(name, n)]
    bridge = TransformerBridge.boot_transformers(folder, device="cpu")
    bridge.set_use_hook_mlp_in(True)
    _, theirs = bridge.run_with_cache(tokens, names_filter=lambda name: name in hooks)
    _, cache = ours.run_with_cache(tokens, hooks)
    gap = max((theirs[h] - cache[h].expand_as(theirs[h])).abs().max().item() for h in hooks)
    print(f"transformer_lens: {len(hooks)} hooks, max |activation difference| {gap:.3g}")
    lm = LanguageModel(folder, device_map="cpu", dispatch=True)
    read: list[torch.Tensor] = []  # filled inside the trace (nnsight runs its body apart)
    with lm.trace(tokens):
        for layer in range(n):
            read.append(lm.transformer.h[layer].output.save())
    resid = [cache[act_name("resid_post", layer)] for layer in range(n)]
    gap = max((a - b).abs().max().item() for a, b in zip(read, resid, strict=True))
    print(f"nnsight: {n} block outputs (resid_post), max |difference| {gap:.3g}")


def in_float64(ours, folder: str, tokens: torch.Tensor, reference: torch.Tensor) -> None:
    """The float32 rounding floor (our own float32 logits against float64) and the mapping
    itself: transformers' model and ours, both in float64."""
    from transformers import AutoModelForCausalLM

    exact = ours.double()(tokens)
    theirs = AutoModelForCausalLM.from_pretrained(folder).eval().double()(tokens).logits
    print(f"ours float32 vs float64: {(reference - exact).abs().max().item():.3g}")
    print(f"transformers vs ours, both float64: {(theirs - exact).abs().max().item():.3g}")


if __name__ == "__main__":
    main()
