"""How large, how long and on how many images the restorer must train: a grid of
restorer sizes x training images, each scored after every epoch on the validation split (held
out of the training files, never the test images), against the ``cpu`` profile's main classifier
on one dataset.

    python benchmarks/restorer_grid.py mnist --sizes 2x16 4x32 8x64 --images 10000 55000 --epochs 6

Per grid point the restorer trains with the paper's recipe (eq. 4: MSE on quantized images, half
of each batch FGSM at the dataset's largest eps, Adam at a constant rate) for ``--epochs`` epochs,
checkpointed after each; Adam's rate is constant, so the restorer after epoch e is the one an
e-epoch run gives. After each epoch it scores, on the profile's ``n_test`` validation images, PSNR
of the restored clean images and the defended accuracy on clean, FGSM and BIM sets at the paper's
table eps (attacks on the bare classifier, the paper's protocol), with 95 % Wilson intervals, and
appends the rows to ``--out`` (results/restorer_grid.csv) with the split they were scored on and the
seconds that epoch took. Not a test: run by hand.

    python benchmarks/restorer_grid.py --figure

draws every dataset of the CSV (figures/restorer_grid.png) and prints each dataset's knee: the
cheapest point (training seconds) whose defended BIM accuracy is within one point of the best;
:func:`knees` refuses rows scored on any split but validation.

Backs: docs/method.md, "How much restorer" and figures/restorer_grid.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from reconstruction_defense.config.device import device_name
from reconstruction_defense.config.profiles import get_profile, recipe_for
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.weights import candidate_id, merged_ids
from reconstruction_defense.evaluation.scoring import evaluate, psnr, transform
from reconstruction_defense.method import Restorer
from reconstruction_defense.method.defense import ReconstructionDefense
from reconstruction_defense.reporting import figures, style
from reconstruction_defense.training.loops import fit, machine, restorer_epoch
from reconstruction_defense.training.zoo import trained_classifier


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", nargs="?")
    ap.add_argument(
        "--figure",
        type=Path,
        nargs="?",
        const=Path("figures/restorer_grid"),
        default=None,
        help="draw the CSV instead of training (default stem figures/restorer_grid)",
    )
    ap.add_argument("--sizes", nargs="+", default=["2x16", "4x32", "8x64"], help="blocks x features")
    ap.add_argument("--images", nargs="+", type=int, default=[10_000, 55_000], help="training images")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--profile", default="cpu", help="whose classifier and restorer recipe (default cpu)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--workdir", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("results/restorer_grid.csv"))
    return ap.parse_args()


def grid_point(dataset: str, blocks: int, feats: int, n_images: int, args: argparse.Namespace) -> None:
    """Train one restorer epoch by epoch, scoring it after each; rows appended to ``args.out``."""
    profile, recipe = get_profile(args.profile), recipe_for(dataset)
    cfg = profile.restorer
    train = load_dataset(dataset, "train", root=args.data_root, n=profile.data.n_train, seed=profile.seed)
    validation = load_dataset(dataset, "validation", root=args.data_root, n=profile.data.n_test, seed=profile.seed)
    classifier = trained_classifier(profile.classifier.arch, train, profile, args.workdir)
    data = load_dataset(dataset, "train", root=args.data_root, n=min(n_images, len(train)), seed=profile.seed + 1)
    torch.manual_seed(profile.seed)
    restorer = Restorer(train.info.channels, blocks, feats, cfg.res_scale)
    epoch_fn = restorer_epoch(
        data, classifier, recipe.k, recipe.max_eps, cfg.adv_fraction, cfg.batch_size, profile.seed
    )
    config = {  # the classifier's weights too: a checkpoint trained against another one must not load
        "blocks": blocks,
        "feats": feats,
        "images": len(data),
        "lr": cfg.lr,
        "seed": profile.seed,
        "classifier": candidate_id(classifier),
    }
    stem = args.workdir / "restorer_grid" / f"{dataset}-{blocks}x{feats}-{len(data)}"
    attacks = [("clean", 0), ("fgsm", recipe.table_eps), ("bim", recipe.table_eps)]
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        fit(restorer, epoch_fn, epoch, cfg.lr, config, stem, f"restorer {blocks}x{feats} on {len(data)}")
        seconds = time.perf_counter() - start
        defense = ReconstructionDefense(restorer, recipe.k).eval()
        table = evaluate(
            classifier,
            validation,
            attacks,
            {"defense": defense},
            params=profile.attacks,
            cache_dir=args.workdir / "adversarial",
            seed=profile.seed,
            progress=False,
        )
        table = table.assign(
            blocks=blocks,
            feats=feats,
            parameters=sum(p.numel() for p in restorer.parameters()),
            train_images=len(data),
            epochs=epoch,
            epoch_seconds=round(seconds, 1),
            split=validation.split,
            psnr_clean=round(psnr(transform(defense, validation.images), validation.images), 2),
            cpu_kernels=machine()["cpu_kernels"],
            device=device_name(profile.device),
            torch=torch.__version__,
            models=merged_ids([*table.models, candidate_id(restorer)]),
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        done = pd.read_csv(args.out) if args.out.exists() else None  # by name: a new column must not shift rows
        pd.concat([done, table], ignore_index=True).to_csv(args.out, index=False)
        print(
            table[
                [
                    "dataset",
                    "attack",
                    "blocks",
                    "feats",
                    "train_images",
                    "epochs",
                    "accuracy",
                    "psnr_clean",
                    "epoch_seconds",
                ]
            ].to_string(index=False, header=epoch == 1),
            flush=True,
        )


def knees(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, the cheapest grid point (cumulative training seconds) whose defended BIM
    accuracy is within one point of the dataset's best: a choice made on the validation split
    only, so a row scored on another split (or on none recorded) is refused."""
    splits = set(table.get("split", pd.Series(["none recorded"])).fillna("none recorded"))
    if splits != {"validation"}:
        raise ValueError(
            f"the restorer grid has rows scored on {', '.join(sorted(splits - {'validation'}))}: a restorer is "
            "chosen on the validation split only; rerun benchmarks/restorer_grid.py to score on it"
        )
    bim = table[table.attack == "bim"].sort_values("epochs")
    bim = bim.assign(train_seconds=bim.groupby(["dataset", "blocks", "feats", "train_images"]).epoch_seconds.cumsum())
    best = bim.groupby("dataset").accuracy.transform("max")
    return (
        bim[bim.accuracy >= best - 0.01]
        .sort_values("train_seconds")
        .groupby("dataset")
        .head(1)[["dataset", "blocks", "feats", "train_images", "epochs", "accuracy", "psnr_clean", "train_seconds"]]
    )


def main() -> None:
    args = parse()
    if args.figure is not None:
        table = pd.read_csv(args.out)
        style.apply()
        figures.save(figures.restorer_grid(table), args.figure)
        print(knees(table).to_string(index=False))
        return
    for size in args.sizes:
        blocks, feats = (int(v) for v in size.split("x"))
        for n_images in args.images:
            grid_point(args.dataset, blocks, feats, n_images, args)


if __name__ == "__main__":
    main()
