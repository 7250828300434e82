"""The paper's own setting on one GPU (issue 37): Tables 1-2's protocol under the ``paper``
profile (ResNet-50, the 16 x 64 restorer, the paper's eps and k) for one dataset, both trainings
and every attack in one command, timed by phase.

    python benchmarks/paper_gpu.py --dataset mnist --out results/paper_gpu --l2-n-test 1000

Writes into ``--out`` as each phase ends, so a command stopped at its time limit keeps what it
finished:

* ``timing_<dataset>.csv``: one row: the device's name, torch and CUDA versions, the training
  images and ``training_s`` (data, classifier and restorer), written when training ends; then the
  test images (all, and the minimum-norm attacks' sample), ``attacks_s`` (Tables 1-3's attacks
  and scoring) and ``total_s``;
* ``table_<dataset>.csv``: the rows ``recdef run`` writes (accuracy, n, 95 % interval, model
  digests, attack code), with the device and torch version.

DeepFool and C&W-L2 may score a seeded sample of the test images (``--l2-n-test``; their rows'
``n`` says how many). The weights stay under ``--workdir`` (a ResNet-50 is ~94 MB: they are not
committed). ``--device cpu`` with ``--set`` overrides runs the same path at tiny size (its test).

Backs: docs/scale-out.md, "The paper's setting on one GPU".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from reconstruction_defense.cli.common import (
    add_override_option,
    checked_device,
    positive_int,
    profile_overrides,
    run_main,
)
from reconstruction_defense.config.device import device_name
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.outputs import check_writable, save_table
from reconstruction_defense.experiments.transfer import paper_protocol_table
from reconstruction_defense.training.zoo import train_or_load


def machine_columns(device: str) -> dict[str, str]:
    """What every row says about where it ran."""
    cuda = torch.version.cuda if device.startswith("cuda") else "none"
    return {"device": device_name(device), "torch": torch.__version__, "cuda": cuda}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist", "cifar10"])
    parser.add_argument("--device", default="cuda", type=checked_device, help="cuda (default) or cpu (tests)")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument("--workdir", default=Path("runs"), type=Path, help="checkpoints and attack cache")
    parser.add_argument("--out", default=Path("results") / "paper_gpu", type=Path)
    parser.add_argument("--l2-n-test", type=positive_int, default=None, help="DeepFool and C&W-L2 on this many images")
    add_override_option(parser, "the timing row records them; the committed tables have none")
    args = parser.parse_args(argv)
    check_writable(args.out)
    profile = get_profile("paper", device=args.device, **profile_overrides(args.set))
    where = machine_columns(profile.device)
    print(f"[paper] {args.dataset} on {where['device']}, torch {where['torch']}", flush=True)
    timing = {"dataset": args.dataset} | where | {"overrides": " ".join(args.set)}

    def record(**fields: float | int) -> None:
        timing.update(fields)
        save_table(pd.DataFrame([timing]), args.out / f"timing_{args.dataset}.csv")

    start = time.perf_counter()
    models = train_or_load(args.dataset, profile, args.data_root, args.workdir)
    record(train_images=len(models.train), training_s=round(time.perf_counter() - start, 1))
    attacks_start = time.perf_counter()
    table = paper_protocol_table(models.classifier, models.defense, models.test, profile, args.workdir, args.l2_n_test)
    save_table(table.assign(**where), args.out / f"table_{args.dataset}.csv")
    record(
        test_images=len(models.test),
        l2_test_images=int(table.n.min()),
        attacks_s=round(time.perf_counter() - attacks_start, 1),
        total_s=round(time.perf_counter() - start, 1),
    )
    print(f"wrote {args.out}: training {timing['training_s']} s, attacks {timing['attacks_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
