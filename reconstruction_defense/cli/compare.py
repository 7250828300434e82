"""Where another run of the study differs from ours: every accuracy cell of the results CSVs two
folders share, both values and whether the difference exceeds the 95 % intervals and our seed
spread (:mod:`~reconstruction_defense.reporting.compare`).

    recdef compare results/ OTHER/            # the cells that differ beyond sampling, per table
    recdef compare results/ OTHER/ --all      # every cell

Exit status 1 when a cell differs beyond both the intervals and the seed spread, or a table is
on one side only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..reporting.compare import VERDICTS, compare_folders
from .common import run_main


def _order(verdict: str) -> int:
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ours", type=Path, help="our results folder (its seed-spread tables are used)")
    parser.add_argument("theirs", type=Path, help="the other run's results folder")
    parser.add_argument("--all", action="store_true", help="print every cell, not only those that differ")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    for folder in (args.ours, args.theirs):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder of results CSVs (e.g. results/ or runs/smoke/results/)")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 120)
    failing = 0
    for name, found in compare_folders(args.ours, args.theirs).items():
        if isinstance(found, str):
            print(f"{name}: {found}")
            failing += found.startswith("only in")
            continue
        bad = found[found.verdict.isin(["DIFFERS"]) | found.verdict.str.startswith("only in")]
        tally = found.verdict.value_counts()
        counts = ", ".join(f"{tally[v]} {v}" for v in sorted(tally.index, key=_order))
        print(f"{name}: {len(found)} cells: {counts}")
        shown = found if args.all else bad
        if len(shown):
            print(shown.to_string(index=False) + "\n")
        failing += len(bad)
    print(f"{failing} cell(s) or table(s) differ beyond the intervals and the seed spread")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
