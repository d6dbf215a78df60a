"""Fetch a published Othello-GPT checkpoint from the Hugging Face hub into the hub's cache.

    python scripts/fetch_published.py --model synthetic|championship [--revision REV] \
        [--json-out data/published/synthetic.json]

Prints the local path (one line; the hub's progress bar goes to stderr). ``--json-out`` also
writes what was fetched (repo, file, resolved commit, size, sha256), which
``convert_checkpoint.py import --source-json`` records in the run's config.json. Offline
(``HF_HUB_OFFLINE=1``) it answers from the hub cache; when the file can be had neither way it
ends with one ``error:`` line giving the download address and the command that analyses it.
"""

from __future__ import annotations

import argparse

from othello.common import cli
from othello.interop.hub import PUBLISHED, fetch_published, write_record


def run(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(PUBLISHED), required=True)
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default main)")
    parser.add_argument("--json-out", default=None, help="also write what was fetched here")
    args = parser.parse_args(argv)
    fetched = fetch_published(args.model, args.revision)
    if args.json_out:
        write_record(fetched, args.json_out)
    print(fetched.path)


if __name__ == "__main__":
    cli.main(run)
