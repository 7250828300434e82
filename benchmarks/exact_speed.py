"""What exact evaluation costs beside an attack: on the same test images, the
``cpu`` profile's MNIST (or any dataset's) defended pipeline searched exactly at one eps, and one
BPDA-PGD run with 100 steps through the same pipeline, in the same process on the same device.

    RECDEF_DATA=/path/to/data python benchmarks/exact_speed.py --dataset mnist --eps 0.05 --images 100

Reports reachable k-level images evaluated per second, images decided per minute, the PGD run's
seconds and the ratio of the two wall times, one row appended to ``--out``
(results/exact_speed.csv) with the device and the CPU's kernels. With ``--device cuda`` (or the
profile's ``auto`` on a GPU machine) both run on the GPU; ``--batch-size`` sets how many k-level
images go through one forward pass, ``--verdicts DIR`` keeps the per-image verdicts (to compare
devices or budgets). Not a test: run by hand.

Backs: docs/exact.md, "Exact search beside one attack" (its GPU rows, when a lent GPU writes
them again: docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn

from reconstruction_defense.attacks.registry import run_attack
from reconstruction_defense.config.device import device_name
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.weights import weights_ids
from reconstruction_defense.evaluation.adaptive import bpda_pipeline
from reconstruction_defense.evaluation.exact import exact_robustness
from reconstruction_defense.evaluation.scoring import predict
from reconstruction_defense.training.loops import machine
from reconstruction_defense.training.zoo import train_or_load


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--budget", type=int, default=2**12)
    ap.add_argument("--probe", type=int, default=2**8)
    ap.add_argument("--batch-size", type=int, default=128, help="patterns per forward pass (128 is fastest on 2 cores)")
    ap.add_argument("--verdicts", type=Path, default=None, help="also save per-image verdicts in this folder")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--device", default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--workdir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("results/exact_speed.csv"))
    return ap.parse_args()


def main() -> None:
    args = parse()
    profile = get_profile(args.profile, device=args.device)
    models = train_or_load(args.dataset, profile, args.data_root, args.workdir)
    test = models.test.sample(args.images)
    k = models.defense.quantizer.k
    after = nn.Sequential(models.defense.restorer, models.classifier).eval()
    start = time.perf_counter()
    verdicts = exact_robustness(after, test.images, test.labels, k, args.eps, args.budget, args.probe, args.batch_size)
    exact_s = time.perf_counter() - start
    pipeline = bpda_pipeline(models.defense, models.classifier)
    start = time.perf_counter()
    adv = run_attack("pgd", pipeline, test.images, test.labels, args.eps, replace(profile.attacks, pgd_steps=100))
    pgd_s = time.perf_counter() - start
    pgd_robust = int((predict(pipeline, adv) == test.labels).sum())
    counts = verdicts.counts()
    row = {
        "dataset": test.info.display_name,
        "eps": args.eps,
        "k": k,
        "images": len(test),
        "budget": args.budget,
        "probe": args.probe,
        "batch_size": args.batch_size,
        **counts,
        "evaluated": int(verdicts.evaluated.sum()),
        "exact_seconds": round(exact_s, 1),
        "evaluated_per_second": round(int(verdicts.evaluated.sum()) / exact_s, 1),
        "decided_per_minute": round(60 * (counts["robust"] + counts["broken"]) / exact_s, 1),
        "pgd100_seconds": round(pgd_s, 1),
        "pgd100_robust": pgd_robust,
        "exact_over_pgd100": round(exact_s / pgd_s, 2),
        "device": device_name(profile.device),
        "cpu_kernels": machine()["cpu_kernels"],
        "torch": torch.__version__,
        "models": weights_ids(models.classifier, models.defense),
    }  # models are keyed by torch
    print(pd.Series(row).to_string())
    if args.verdicts is not None:
        args.verdicts.mkdir(parents=True, exist_ok=True)
        save_file(
            verdicts.tensors(),
            args.verdicts / f"exact-{args.dataset}-{args.images}-eps{args.eps:g}-budget{args.budget}"
            f"-{profile.device}.safetensors",
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([pd.read_csv(args.out) if args.out.exists() else None, pd.DataFrame([row])]).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
