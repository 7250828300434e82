"""Main job: train (or load) and evaluate one dataset under a profile, print the accuracy table.

    python -m reconstruction_defense.run --profile cpu --dataset mnist
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from .data import BUILTIN
from .paper import transfer_tables
from .profiles import PROFILES, get_profile
from .study import paper_protocol_table, prepare


def side_by_side(ours: pd.DataFrame, dataset: str, paper_network: str = "resnet50") -> pd.DataFrame:
    """Our table (accuracy [95% CI] per attack, without / with defense) beside the paper's values."""
    paper = transfer_tables()
    paper = paper[(paper.dataset == dataset) & (paper.network == paper_network)]
    out = []
    for (attack, strength), grp in ours.groupby(["attack", "strength"], sort=False):
        row = {"attack": attack, "strength": _strength_label(attack, strength)}
        for defended, (_, r) in enumerate(grp.iterrows()):
            label = "defense" if defended else "no defense"
            row[f"ours {label}"] = f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]"
            key = {"clean": "clean", "FGSM": "fgsm", "BIM": "bim", "DeepFool": "deepfool",
                   "C&W-L2": "cw"}.get(attack)
            match = paper[(paper.attack == key) & (paper.defended == bool(defended))]
            row[f"paper {label}"] = f"{match.accuracy.iloc[0]:.0%}" if len(match) else "-"
        out.append(row)
    return pd.DataFrame(out)


def _strength_label(attack: str, strength: float) -> str:
    if attack == "clean":
        return "-"
    return f"eps={strength:g}" if attack in ("FGSM", "BIM") else f"{int(strength)} iterations"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto", help=f"auto or one of {', '.join(PROFILES)}")
    parser.add_argument("--dataset", default="mnist", help=f"{', '.join(BUILTIN)} or an image-folder path")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument("--workdir", default="runs", type=Path, help="checkpoints and attack cache")
    parser.add_argument("--results", default="results", type=Path, help="where the CSV table is written")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    profile = get_profile(args.profile)
    print(f"[{profile.name}] {args.dataset}: classifier {profile.classifier}", flush=True)
    setup = prepare(args.dataset, profile, args.data_root, args.workdir)
    train, test = setup.train, setup.test
    table = paper_protocol_table(setup.classifier, setup.defense, test, profile, args.workdir)
    args.results.mkdir(parents=True, exist_ok=True)
    csv = args.results / f"table_{train.info.name}_{profile.name}.csv"
    table.to_csv(csv, index=False)
    pd.set_option("display.width", 200)
    print(f"\n{train.info.display_name}, {table.model.iloc[0]}, profile {profile.name}, "
          f"n = {len(test)} test images, accuracy [95% Wilson CI]; paper: ResNet-50, Table 1-3")
    print(side_by_side(table, train.info.name).to_string(index=False))
    print(f"\nwrote {csv}; wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
