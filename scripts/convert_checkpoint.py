"""Bring published Othello-GPT checkpoints in, or send ours out as TransformerLens.

    python scripts/convert_checkpoint.py import --kind othello_world \
        --in gpt_synthetic.ckpt --out data/runs/li
    python scripts/convert_checkpoint.py import --kind transformer_lens \
        --in synthetic_model.pth --out data/runs/nanda
    python scripts/convert_checkpoint.py export --run data/runs/cpu --out exported/othello_gpt

An imported run directory holds ``model.pt`` like a trained one, so every later stage takes
it. An export writes ``OUT.pth`` (a HookedTransformer state dict) and ``OUT.json`` (its
``HookedTransformerConfig`` keywords).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from othello.checkpoint import load_model, save_model
from othello.interop import load_external, to_transformer_lens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--kind", choices=("othello_world", "transformer_lens"), required=True)
    imp.add_argument("--in", dest="source", required=True)
    imp.add_argument("--out", required=True, help="run directory to create")
    imp.add_argument("--n-heads", type=int, default=8, help="othello_world only")
    exp = sub.add_parser("export")
    exp.add_argument("--run", required=True)
    exp.add_argument("--out", required=True, help="path prefix for .pth and .json")
    args = parser.parse_args(argv)
    if args.command == "import":
        model = load_external(args.source, args.kind, args.n_heads)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        save_model(model, out / "model.pt", {"imported_from": str(args.source)})
        (out / "config.json").write_text(
            json.dumps(
                {
                    "config": {"model": model.cfg.to_dict()},
                    "imported_from": str(args.source),
                    "kind": args.kind,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"imported {args.kind} checkpoint into {out / 'model.pt'}")
    else:
        state, config = to_transformer_lens(load_model(args.run))
        prefix = Path(args.out)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, prefix.with_suffix(".pth"))
        prefix.with_suffix(".json").write_text(json.dumps(config, indent=2) + "\n")
        print(f"wrote {prefix.with_suffix('.pth')} and {prefix.with_suffix('.json')}")


if __name__ == "__main__":
    main()
