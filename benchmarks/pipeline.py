"""Benchmark: where the study's time goes, each figure a ratio against a reference in the same run.

    RECDEF_DATA=/path/to/data python benchmarks/pipeline.py [--repeats 5] [--out results/benchmark_pipeline.csv]

1. Defense overhead, per dataset: quantizer + restorer inference vs the classifier's own, on
   1,000 real test images, the ``cpu`` profile's architectures (its classifier, ResNet-20 when the committed CSV was
   measured; 4 x 32 restorer).
   Weights are freshly initialized: inference time does not depend on their values.
2. The adversarial-set cache on Table 4's protocol (Fashion-MNIST, level 1 attacks on 200
   images, six preprocessing defenses; a LeNet trained 3 epochs, so that the reference fits in
   minutes): every defense attacked anew (no sharing) vs one shared set made once (cold cache)
   vs read back (warm).
3. How cost grows with the number of test images (1k, 2k, 5k, 10k): FGSM and BIM on MNIST
   against a LeNet (freshly initialized: fixed-step attacks cost the same whatever the weights),
   scored without and with the defense; seconds per 1,000 images (at most 3
   repeats: the 10k point alone takes a minute).

Median of ``--repeats`` timed runs. Not a test: run by hand, paste the table into the page named below.

Backs: docs/profiles.md, "Where the time goes: defense overhead, the attack cache, scaling".
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from reconstruction_defense.attacks.registry import AttackParams
from reconstruction_defense.config.profiles import get_profile, recipe_for
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.evaluation.scoring import evaluate, predict
from reconstruction_defense.experiments.comparison import comparison_levels
from reconstruction_defense.method import Restorer, build_classifier
from reconstruction_defense.method.baselines import ComDefend, FeatureSqueezing, JPEGCompression
from reconstruction_defense.method.defense import ReconstructionDefense
from reconstruction_defense.method.quantize import Quantizer
from reconstruction_defense.training.zoo import trained_classifier


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def defense_overhead(repeats: int) -> list[dict]:
    profile = get_profile("cpu")
    rows = []
    for dataset in ("mnist", "fashion_mnist", "cifar10"):
        test = load_dataset(dataset, "test", n=1000, seed=0)
        torch.manual_seed(0)
        classifier = build_classifier(profile.classifier.arch, test.info).eval()
        cfg = profile.restorer.for_dataset(dataset)
        defense = ReconstructionDefense(
            Restorer(test.info.channels, cfg.n_blocks, cfg.n_feats, cfg.res_scale), recipe_for(dataset).k
        ).eval()
        bare = median_seconds(lambda: predict(classifier, test.images), repeats)
        with torch.inference_mode():
            restore = median_seconds(lambda: defense(test.images), repeats)
        for what, seconds in (
            ("classifier alone", bare),
            ("quantizer + restorer", restore),
            ("whole pipeline", bare + restore),
        ):
            rows.append(
                {
                    "benchmark": "defense overhead",
                    "dataset": test.info.display_name,
                    "variant": what,
                    "n": len(test),
                    "seconds": seconds,
                    "ms_per_image": 1000 * seconds / len(test),
                    "ratio": seconds / bare,
                }
            )
    return rows


def cache_benefit(repeats: int, workdir: Path) -> list[dict]:
    profile = get_profile("cpu")
    train = load_dataset("fashion_mnist", "train", n=profile.data.n_train, seed=profile.seed)
    test = load_dataset("fashion_mnist", "test", n=200, seed=profile.seed)
    classifier = trained_classifier("lenet", train, profile, workdir)
    k = recipe_for("fashion_mnist").k
    torch.manual_seed(0)
    defenses = {
        "none": None,
        f"quantize k={k}": Quantizer(k),
        "ours": ReconstructionDefense(Restorer(1, 4, 32), k).eval(),
        "Feature Squeezing": FeatureSqueezing(bits=2, window=2),
        "ComDefend": ComDefend(1).eval(),
        "JPEG": JPEGCompression(75),
    }
    attacks = comparison_levels(profile, "fashion_mnist")[1]
    params = profile.attacks

    def score(per_defense: bool, cache: Path | None) -> None:
        groups = [{n: d} for n, d in defenses.items()] if per_defense else [defenses]
        for group in groups:
            evaluate(classifier, test, attacks, group, params=params, cache_dir=cache, progress=False)

    reference = median_seconds(lambda: score(True, None), repeats)
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(median_seconds(lambda: score(False, Path(cache)), 1))
            warm.append(median_seconds(lambda: score(False, Path(cache)), 1))
    rows = []
    for what, seconds in (
        ("each defense attacked anew", reference),
        ("one shared set, cold cache", statistics.median(cold)),
        ("one shared set, warm cache", statistics.median(warm)),
    ):
        rows.append(
            {
                "benchmark": f"Table 4 scoring, {len(defenses)} defenses",
                "dataset": test.info.display_name,
                "variant": what,
                "n": len(test),
                "seconds": seconds,
                "ms_per_image": 1000 * seconds / len(test),
                "ratio": seconds / reference,
            }
        )
    return rows


def scaling(repeats: int) -> list[dict]:
    train = load_dataset("mnist", "train", n=5000, seed=0)
    torch.manual_seed(0)
    classifier = build_classifier("lenet", train.info).eval()
    defense = ReconstructionDefense(Restorer(1, 4, 32), 2).eval()
    rows, first = [], None
    for n in (1000, 2000, 5000, 10000):
        test = load_dataset("mnist", "test", n=n, seed=0)
        seconds = median_seconds(
            lambda: evaluate(
                classifier,
                test,
                [("fgsm", 0.15), ("bim", 0.15)],
                {"none": None, "ours": defense},
                params=AttackParams(),
                progress=False,
            ),
            min(repeats, 3),
        )
        first = first or seconds / n
        rows.append(
            {
                "benchmark": "evaluation cost vs test images",
                "dataset": test.info.display_name,
                "variant": f"{n} images",
                "n": n,
                "seconds": seconds,
                "ms_per_image": 1000 * seconds / n,
                "ratio": (seconds / n) / first,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results/benchmark_pipeline.csv"))
    args = parser.parse_args()
    rows = defense_overhead(args.repeats) + cache_benefit(args.repeats, args.workdir) + scaling(args.repeats)
    table = pd.DataFrame(rows).round({"seconds": 3, "ms_per_image": 3, "ratio": 3})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
