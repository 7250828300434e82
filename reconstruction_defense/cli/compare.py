"""Where another run of the study differs from ours: every accuracy cell of the results CSVs two
folders share, aligned on the row's labels, both values and whether the difference exceeds what
test sampling and training variance explain.

    recdef compare results/ OTHER/            # the cells that differ beyond sampling, per table
    recdef compare results/ OTHER/ --all      # every cell

Exit status 1 when a cell differs beyond both the intervals and the seed spread, or a table is
on one side only.

A cell is ``equal``; ``intervals overlap`` when the two 95 % Wilson intervals (each from its own
accuracy and n) overlap, the difference test-image sampling alone can make; ``within seed spread``
when the other value lies inside the range our seed-spread tables record for that row (training
variance: another CPU's kernels train other weights as another seed does); else ``DIFFERS``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..evaluation.scoring import wilson_interval
from .common import run_main

SKIPPED = {"rerun_times.csv", "rerun_cells.csv"}  # wall times differ on every run
VERDICTS = ("equal", "intervals overlap", "within seed spread", "DIFFERS")
SPREADS = ("seed_spread.csv", "adaptive_seed_spread.csv")
MEASURED = {  # columns that are results or provenance, never a row's label
    "accuracy",
    "n",
    "ci_low",
    "ci_high",
    "attack_code",
    "models",
    "median_l2",
    "psnr_clean",
    "epoch_seconds",
    "train_seconds",
    "history",
    "cpu_kernels",
    "device",
    "torch",
    "val_accuracy",
    "val_ci_low",
    "val_ci_high",
    "n_validation",
    "mean",
    "low",
    "high",
    "seeds",
}


def labels_of(table: pd.DataFrame) -> list[str]:
    """The columns that name a row (dataset, attack, strength...): all but :data:`MEASURED`."""
    return [c for c in table.columns if c not in MEASURED]


def _interval(accuracy: float, n: int) -> tuple[float, float]:
    return wilson_interval(round(accuracy * n), n)


def verdict(ours: float, n_ours: int, theirs: float, n_theirs: int, spread: tuple[float, float] | None) -> str:
    """The verdict of one cell (see the module docstring)."""
    if ours == theirs:
        return "equal"
    (lo_a, hi_a), (lo_b, hi_b) = _interval(ours, n_ours), _interval(theirs, n_theirs)
    if lo_a <= hi_b and lo_b <= hi_a:
        return "intervals overlap"
    if spread is not None and spread[0] <= theirs <= spread[1]:
        return "within seed spread"
    return "DIFFERS"


def _same(column: pd.Series, value: object) -> pd.Series:
    """Which cells of ``column`` hold ``value`` (numbers compared as numbers: 0 == 0.0)."""
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all() and pd.notna(pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]):
        return numbers == float(value)
    return column.astype(str) == str(value)


def _spread_for(row: pd.Series, spreads: list[pd.DataFrame]) -> tuple[float, float] | None:
    for spread in spreads:
        keys = [c for c in labels_of(spread) if c in row.index]
        if not keys:
            continue
        hit = spread[pd.concat([_same(spread[k], row[k]) for k in keys], axis=1).all(axis=1)]
        if len(hit) == 1:
            return float(hit["low"].iloc[0]), float(hit["high"].iloc[0])
    return None


def compare_table(ours: pd.DataFrame, theirs: pd.DataFrame, spreads: list[pd.DataFrame]) -> pd.DataFrame:
    """Every accuracy cell of two versions of one table, aligned on their labels, with its verdict;
    a row on one side only is reported as such."""
    keys = labels_of(ours)
    merged = ours.merge(theirs, on=keys, how="outer", suffixes=("_ours", "_theirs"), indicator=True)
    rows = []
    for _, row in merged.iterrows():
        label = ", ".join(f"{k}={row[k]}" for k in keys)
        if row["_merge"] != "both":
            side = "ours" if row["_merge"] == "left_only" else "theirs"
            rows.append({"row": label, "ours": None, "theirs": None, "verdict": f"only in {side}"})
            continue
        a, b = float(row["accuracy_ours"]), float(row["accuracy_theirs"])
        spread = _spread_for(row, spreads)
        rows.append(
            {
                "row": label,
                "ours": a,
                "theirs": b,
                "seed spread": "-" if spread is None else f"{spread[0]:.3f}-{spread[1]:.3f}",
                "verdict": verdict(a, int(row["n_ours"]), b, int(row["n_theirs"]), spread),
            }
        )
    return pd.DataFrame(rows)


def compare_folders(ours: Path, theirs: Path) -> dict[str, pd.DataFrame | str]:
    """Per CSV in either folder: the cell comparison of a table with accuracies, or a one-line
    verdict (byte-identical, only on one side, no accuracy column)."""
    spreads = [pd.read_csv(ours / s) for s in SPREADS if (ours / s).exists()]
    out: dict[str, pd.DataFrame | str] = {}
    for name in sorted({p.name for d in (ours, theirs) for p in d.glob("*.csv")} - SKIPPED):
        a, b = ours / name, theirs / name
        if not (a.exists() and b.exists()):
            out[name] = f"only in {ours if a.exists() else theirs}"
        elif a.read_bytes() == b.read_bytes():
            out[name] = "byte-identical"
        else:
            x, y = pd.read_csv(a), pd.read_csv(b)
            numeric = "accuracy" in x and "accuracy" in y and x.accuracy.dtype.kind == "f" == y.accuracy.dtype.kind
            out[name] = compare_table(x, y, spreads) if numeric else "different (no numeric accuracy column to compare)"
    return out


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
