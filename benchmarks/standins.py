"""Candidate stand-ins for the paper's classifiers: train one recipe on a dataset's training
split, score it on the validation split (held out of training: where a recipe is chosen) and on
the whole test split (what is reported), with its wall time on this machine.

    python benchmarks/standins.py mnist fast_cnn --epochs 3
    python benchmarks/standins.py cifar10 small_inception --epochs 8 --lr 0.1

Each run appends one row to ``--out`` (results/standins.csv): the recipe, the clean validation
and test accuracies with their 95 % Wilson intervals, the per-epoch training loss and accuracy, seconds and the CPU's
kernels. The trained model lands in the run cache (``--workdir``), under the same key the
``cpu`` profile gives it once the profile adopts the recipe. Not a test: run by hand.

Backs: docs/method.md, the two stand-in tables of "The stand-ins of the cpu profile".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.weights import candidate_id
from reconstruction_defense.evaluation.scoring import predict, wilson_interval
from reconstruction_defense.training.loops import machine
from reconstruction_defense.training.recipe import augmentation_for
from reconstruction_defense.training.zoo import trained_classifier


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("arch")
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--lr", type=float, default=0.2, help="the one-cycle peak")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="no shifts or flips (recipe.augmentation_for gives them per dataset)",
    )
    ap.add_argument("--n-train", type=int, default=None, help="default: the whole training split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--workdir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("results/standins.csv"))
    return ap.parse_args()


def main() -> None:
    args = parse()
    recipe = {
        "arch": args.arch,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "optimizer": "sgd",
        "schedule": "one_cycle",
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "augment": args.augment,
    }
    overrides = {**recipe, "dataset_epochs": ()}  # --epochs, whatever the profile gives this dataset
    profile = get_profile("cpu", seed=args.seed, classifier=overrides)
    train = load_dataset(args.dataset, "train", root=args.data_root, n=args.n_train, seed=args.seed)
    validation = load_dataset(args.dataset, "validation", root=args.data_root)
    test = load_dataset(args.dataset, "test", root=args.data_root)
    start = time.perf_counter()
    model = trained_classifier(args.arch, train, profile, args.workdir)
    seconds = time.perf_counter() - start
    correct = int((predict(model, test.images) == test.labels).sum())
    lo, hi = wilson_interval(correct, len(test))
    val_correct = int((predict(model, validation.images) == validation.labels).sum())
    val_lo, val_hi = wilson_interval(val_correct, len(validation))
    max_shift, flip = augmentation_for(args.dataset, min(train.info.size)) if args.augment else (0, False)
    recipe.pop("augment")  # the CSV holds what it gave: max_shift and flip
    row = {
        "dataset": test.info.display_name,
        **recipe,
        "max_shift": max_shift,
        "flip": flip,
        "n_train": len(train),
        "seed": args.seed,
        "n_validation": len(validation),
        "val_accuracy": val_correct / len(validation),
        "val_ci_low": val_lo,
        "val_ci_high": val_hi,
        "n_test": len(test),
        "accuracy": correct / len(test),
        "ci_low": lo,
        "ci_high": hi,
        "train_seconds": round(seconds),
        "history": model.history,
        "cpu_kernels": machine()["cpu_kernels"],
        "models": candidate_id(model),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([row])
    pd.concat([pd.read_csv(args.out) if args.out.exists() else None, table]).to_csv(args.out, index=False)
    print(table.drop(columns="history").to_string(index=False))


if __name__ == "__main__":
    main()
