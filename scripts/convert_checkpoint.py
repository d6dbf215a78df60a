"""Bring published Othello-GPT checkpoints in, or send ours out as TransformerLens or Hugging Face.

    python scripts/convert_checkpoint.py import --kind othello_world \
        --in gpt_synthetic.ckpt --out data/runs/li [--n-heads 8]
    python scripts/convert_checkpoint.py import --kind transformer_lens \
        --in synthetic_model.pth --out data/runs/nanda \
        [--source-json data/published/synthetic.json]
    python scripts/convert_checkpoint.py import --kind hf --in exports/cpu-hf --out data/runs/back
    python scripts/convert_checkpoint.py export --run data/runs/cpu --out exported/othello_gpt
    python scripts/convert_checkpoint.py export --format hf --run data/runs/cpu \
        --out exports/cpu-hf [--push OWNER/NAME]

An imported run directory holds ``model.pt`` like a trained one, so every later stage takes
it; ``--source-json`` (what ``fetch_published.py --json-out`` wrote) adds the hub repo,
file, commit, size and sha256 to its config.json. An export writes ``OUT.pth`` (a
HookedTransformer state dict) and ``OUT.json`` (its ``HookedTransformerConfig`` keywords), or
with ``--format hf`` the folder ``OUT`` (config.json, model.safetensors, tokenizer.json, a
model card) that transformers, nnsight and TransformerLens 4 load; ``--push`` publishes it.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from othello.interop.formats import FORMATS, LI_ET_AL_HEADS, export_run, import_run
from othello.interop.formats.runs import export_hf_run
from othello.interop.hub import push_folder, read_record


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--kind", choices=FORMATS, required=True)
    imp.add_argument("--in", dest="source", required=True, help="a file, or an hf folder")
    imp.add_argument("--out", required=True, help="run directory to create")
    imp.add_argument(
        "--n-heads", type=int, default=LI_ET_AL_HEADS, help="othello_world only (not in weights)"
    )
    imp.add_argument(
        "--source-json", default=None, help="fetch_published.py --json-out record to keep"
    )
    exp = sub.add_parser("export")
    exp.add_argument("--run", required=True)
    exp.add_argument("--out", required=True, help="path prefix for .pth and .json; hf: folder")
    exp.add_argument("--format", choices=("transformer_lens", "hf"), default="transformer_lens")
    exp.add_argument(
        "--attn-mask",
        choices=("auto", "empty", "causal"),
        default="auto",
        help="attention buffers: 'empty' for TransformerLens 3.1 and >= 3.3, 'causal' for 2.x, "
        "3.0 and 3.2; 'auto': the installed TransformerLens's own ('empty' without one)",
    )
    exp.add_argument("--push", metavar="REPO_ID", help="hf: publish the folder on the hub")
    args = parser.parse_args(argv)
    if args.command == "import":
        hub = read_record(args.source_json) if args.source_json else None
        path = import_run(args.source, args.kind, args.out, args.n_heads, hub)
        print(f"imported {args.kind} checkpoint {args.source} into {path}")
    elif args.format == "hf":
        print(f"wrote {export_hf_run(args.run, args.out, args.push)}")
        if args.push:
            print(f"pushed to {push_folder(args.out, args.push)}")
    elif args.push:
        parser.error("--push publishes a Hugging Face folder: add --format hf")
    else:
        for path in export_run(args.run, args.out, args.attn_mask):
            print(f"wrote {path}")


if __name__ == "__main__":
    cli.main(run)
