"""How exactly each tool that opens our Hugging Face folder computes our GPT: a run exported
with ``convert_checkpoint.py export --format hf`` and loaded in ``transformers``
(``AutoModelForCausalLM``), nnsight (``LanguageModel``), TransformerLens 4
(``TransformerBridge.boot_transformers``) and back into ours (``othello.load_model``); for each,
the largest absolute logit difference from our model over held-out games, and the time to load.
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
        folder = str(export_hf_run(args.run, Path(tmp) / "hf"))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        texts = [" ".join(square_name(int(s)) for s in decode(row) if s >= 0) for row in moves]
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


if __name__ == "__main__":
    main()
