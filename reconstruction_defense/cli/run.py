"""Main job: train (or load) and evaluate one dataset under a profile, print the accuracy table.

recdef run --profile cpu --dataset mnist
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from ..attacks.registry import display_name
from ..config.profiles import get_profile
from ..data.datasets import BUILTIN
from ..data.outputs import atomic_write, check_writable
from ..experiments.transfer import paper_protocol_table
from ..reporting.paper import beside_paper
from ..training.zoo import train_or_load
from .common import add_common_options, add_override_option, positive_int, profile_overrides, run_main


def l2_note(table: pd.DataFrame) -> str:
    """How many images the minimum-norm attacks scored, where it is not the whole test set."""
    sizes = table.drop_duplicates("attack").set_index("attack").n
    small = sizes[sizes < sizes.max()]
    return f" ({', '.join(map(display_name, small.index))} on {small.iloc[0]})" if len(small) else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--dataset", default="mnist", help=f"{', '.join(BUILTIN)} or an image-folder path")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument("--workdir", default="runs", type=Path, help="checkpoints and attack cache")
    parser.add_argument(
        "--results",
        default=Path("runs") / "results",
        type=Path,
        help="where the CSV table is written (default runs/results; --results results replaces the committed table)",
    )
    parser.add_argument(
        "--l2-n-test",
        type=positive_int,
        default=None,
        help="DeepFool and C&W-L2 on a seeded sample of this many of the test images (default: all of them)",
    )
    add_override_option(parser, "the table then describes that profile as overridden")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    profile = get_profile(args.profile, device=args.device, **profile_overrides(args.set))
    check_writable(args.results)  # before the minutes of training and attacks, not after
    print(f"[{profile.name}] {args.dataset}: classifier {profile.classifier.arch} on {profile.device}", flush=True)
    models = train_or_load(args.dataset, profile, args.data_root, args.workdir)
    train, test = models.train, models.test
    table = paper_protocol_table(models.classifier, models.defense, test, profile, args.workdir, args.l2_n_test)
    pd.set_option("display.width", 200)
    print(
        f"\n{train.info.display_name}, {table.model.iloc[0]}, profile {profile.name}, "
        f"n = {len(test)} test images{l2_note(table)}, accuracy [95% Wilson CI]; paper: ResNet-50, Table 1-3"
    )
    print(beside_paper(table, train.info.name, "resnet50").to_string(index=False))  # printed even if unwritable
    csv = args.results / f"table_{train.info.name}_{profile.name}.csv"
    atomic_write(csv, table.to_csv(index=False).encode())
    print(f"\nwrote {csv}; wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
