"""``recdef``: the commands under one name (installed as a console script; without it,
``python -m reconstruction_defense.cli`` does the same).

    recdef run --profile cpu --dataset mnist      # = python -m reconstruction_defense.cli.run ...
    recdef rerun --profile cpu                    # = python -m reconstruction_defense.cli.rerun ...
    recdef precompute --profile paper             # = python -m reconstruction_defense.cli.precompute ...
    recdef report --pages README.md docs/*.md     # = python -m reconstruction_defense.cli.report ...
    recdef train --profile cpu                    # the series' models not shipped yet, into weights/cpu/
    recdef weights [--verify]                     # the shipped models, checked (and re-measured)
    recdef compare results/ OTHER/                # where another run's numbers differ from ours
"""

from __future__ import annotations

import importlib
import sys

from .common import run_main

COMMANDS = ("run", "rerun", "precompute", "report", "train", "weights", "compare")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; use one of {', '.join(COMMANDS)} (recdef --help)", file=sys.stderr)
        return 2
    # imported on demand: `recdef run` never loads papermill, which only `rerun` needs
    command = importlib.import_module(f"reconstruction_defense.cli.{argv[0]}")
    return run_main(command.main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
