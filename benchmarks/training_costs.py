"""What one training epoch of each model of the ``cpu`` series costs on this machine (the
budget of a cold rerun), as seconds per epoch over the full training split, each a ratio
against the main classifier's clean epoch on the same dataset in the same run.

    RECDEF_DATA=/path/to/data python benchmarks/training_costs.py [--steps 8] [--out results/training_costs.csv]

Each row times ``--steps`` training steps (after one warm-up step) of freshly initialized weights
on real training images, at the ``cpu`` profile's batch sizes, and scales them to one epoch over
the whole training split: the step's cost does not depend on the weights' values. Rows: every
classifier of Tables 1-3 with the fast recipe; the main classifier adversarially trained with
FGSM and with BIM (Table 4, notebook 07); the restorer at the profile's size (its FGSM half
batch included). Not a test: run by hand on a quiet machine.

Backs: docs/method.md, "What a cold cpu rerun would cost with these models".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from reconstruction_defense.config.profiles import get_profile, recipe_for
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.experiments.transfer import transfer_archs
from reconstruction_defense.method import Restorer, build_classifier
from reconstruction_defense.training.loops import classifier_epoch, machine, restorer_epoch
from reconstruction_defense.training.recipe import make_optimizer

DATASETS = ("mnist", "fashion_mnist", "cifar10")


def seconds_per_epoch(model: torch.nn.Module, epoch_fn_for, n_images: int, batch_size: int, steps: int) -> float:
    """Time ``steps`` steps (one batch each, after a warm-up) and scale to ``n_images`` images."""
    opt = make_optimizer(model, "sgd", 1e-3)
    epoch_fn_for(batch_size)(model, opt, 0)  # warm-up: one step
    start = time.perf_counter()
    epoch_fn_for(batch_size * steps)(model, opt, 0)
    return (time.perf_counter() - start) / (batch_size * steps) * n_images


def rows_for(dataset: str, steps: int, data_root: str | None) -> list[dict]:
    profile, recipe = get_profile("cpu"), recipe_for(dataset)
    full = load_dataset(dataset, "train", root=data_root)
    cfg = profile.classifier
    rows = []

    def classifier_row(arch: str, adversarial: tuple[str, float] | None) -> dict:
        torch.manual_seed(0)
        model = build_classifier(arch, full.info)

        def epoch_fn_for(n: int):
            return classifier_epoch(full.head(n), cfg.batch_size, 0, adversarial, profile.attacks)

        s = seconds_per_epoch(model, epoch_fn_for, len(full), cfg.batch_size, steps)
        return {"model": arch, "training": f"adversarial {adversarial[0]}" if adversarial else "clean", "epoch_s": s}

    for arch in transfer_archs(profile, dataset):
        rows.append(classifier_row(arch, None))
    for attack in ("fgsm", "bim"):
        rows.append(classifier_row(cfg.arch, (attack, recipe.max_eps)))
    torch.manual_seed(0)
    classifier = build_classifier(cfg.arch, full.info).eval()
    rc = profile.restorer.for_dataset(dataset)
    restorer = Restorer(full.info.channels, rc.n_blocks, rc.n_feats)

    def restorer_fn_for(n: int):
        return restorer_epoch(full.head(n), classifier, recipe.k, recipe.max_eps, rc.adv_fraction, rc.batch_size, 0)

    s = seconds_per_epoch(restorer, restorer_fn_for, len(full), rc.batch_size, steps)
    rows.append(
        {"model": f"restorer {rc.n_blocks}x{rc.n_feats}", "training": "paper's recipe (FGSM half batch)", "epoch_s": s}
    )
    reference = rows[0]["epoch_s"]
    return [
        {
            "dataset": full.info.display_name,
            **r,
            "epoch_s": round(r["epoch_s"], 1),
            "ratio_to_main_clean": round(r["epoch_s"] / reference, 2),
            "train_images": len(full),
            "cpu_kernels": machine()["cpu_kernels"],
        }
        for r in rows
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", type=Path, default=Path("results/training_costs.csv"))
    args = ap.parse_args()
    table = pd.DataFrame([r for d in args.datasets for r in rows_for(d, args.steps, args.data_root)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
