"""Compare two folders of result tables (say, the smoke rerun's ``runs/smoke/results`` made on two
commits): which CSVs are byte-identical, which differ and where.

    python scripts/compare_results.py BEFORE AFTER [--attack-keys]

``--attack-keys`` also accepts a table whose only difference is that one side names attacks by
their display names (``"C&W-L2"``, ``"APGD-CE (cascade)"``) and the other by their keys (``"cw"``,
``"apgd_ce (cascade)"``): tables have held keys since that change. The wall-time
table (``rerun_times.csv``) is left out: it differs on every run. Exits 1 if any table differs.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd

from reconstruction_defense.attacks.registry import ATTACKS

SKIPPED = {"rerun_times.csv"}
# longest display name first, so "C&W-L2 (torchattacks)" is not read as "C&W-L2" + a suffix
BY_DISPLAY = sorted(((info.display, key) for key, info in ATTACKS.items()), key=lambda item: -len(item[0]))


def to_key(label: object) -> object:
    """An attack label written with its display name, as its key (other labels unchanged)."""
    if not isinstance(label, str):
        return label
    for display, key in BY_DISPLAY:
        if label == display or label.startswith(display + " "):
            return key + label[len(display) :]
    return label


def with_attack_keys(csv: bytes) -> bytes:
    """The CSV with its ``attack`` column (if any) written with keys, re-serialized."""
    table = pd.read_csv(io.BytesIO(csv), keep_default_na=False, dtype=str)
    if "attack" in table:
        table["attack"] = table["attack"].map(to_key)
    return table.to_csv(index=False).encode()


def first_difference(a: bytes, b: bytes) -> str:
    for n, (la, lb) in enumerate(zip(a.decode().splitlines(), b.decode().splitlines()), start=1):
        if la != lb:
            return f"line {n}: {la!r} vs {lb!r}"
    return f"{len(a.splitlines())} vs {len(b.splitlines())} lines"


def compare(before: Path, after: Path, attack_keys: bool) -> list[tuple[str, str]]:
    """One (table, verdict) per CSV in either folder."""
    names = sorted({p.name for d in (before, after) for p in d.glob("*.csv")} - SKIPPED)
    verdicts = []
    for name in names:
        a, b = before / name, after / name
        if not (a.exists() and b.exists()):
            verdicts.append((name, f"only in {before if a.exists() else after}"))
            continue
        x, y = a.read_bytes(), b.read_bytes()
        if x == y:
            verdicts.append((name, "byte-identical"))
            continue
        if attack_keys:
            x, y = with_attack_keys(x), with_attack_keys(y)
        if x == y:
            verdicts.append((name, "identical once attack display names are written as keys"))
        else:
            verdicts.append((name, f"DIFFERENT ({first_difference(x, y)})"))
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--attack-keys", action="store_true", help="treat attack display names and keys as the same label"
    )
    args = parser.parse_args(argv)
    verdicts = compare(args.before, args.after, args.attack_keys)
    for name, verdict in verdicts:
        print(f"{name}: {verdict}")
    bad = [n for n, v in verdicts if not (v.startswith("byte") or v.startswith("identical"))]
    print(f"{len(verdicts)} tables, {len(bad)} different")
    return 1 if bad or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
