"""What ``make`` asks of the registry, one line of words each (python -m probes.stages ...):

names                    the registered stages, in report order
table                    NAME:PLACE:READS:FILES:DONE:IN_REPORT per stage (``-``: none)
size STAGE KEY PRESET    one setting of a stage at a preset's sizes (``n_cases``)
"""

from __future__ import annotations

import sys

from othello.common import cli
from othello.common.errors import UserError
from probes.stages.registry import names, ordered, stage


def table_row(name: str) -> str:
    spec = stage(name)
    fields = (spec.reads, spec.files)
    words = [",".join(f) or "-" for f in fields]
    flags = ["yes" if flag else "no" for flag in (spec.in_report, spec.compared)]
    return ":".join([name, spec.place, *words, spec.done, flags[0], f"{name.upper()}_ARGS",
                     flags[1]])  # fmt: skip


def run(argv: list[str] | None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["names"]:
        print(" ".join(names()))
    elif argv == ["table"]:
        print(" ".join(table_row(s.name) for s in ordered()))
    elif len(argv) == 4 and argv[0] == "size":
        _, name, key, preset = argv
        cfg = stage(name).configure(preset)
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        print(value)
    else:
        raise UserError("usage: python -m probes.stages names | table | size STAGE KEY PRESET")


if __name__ == "__main__":
    cli.main(run)
