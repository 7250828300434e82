"""Benchmark: where the study's time goes, each figure a ratio against a reference in the same run.

    RECDEF_DATA=/path/to/data python benchmarks/pipeline.py [--repeats 5] [--out results/benchmark_pipeline.csv]

1. Defense overhead, per dataset: quantizer + restorer inference vs the classifier's own, on
   1,000 real test images, the ``cpu`` series' shipped classifier and defense.
2. The adversarial-set cache on Table 4's protocol (Fashion-MNIST, level 0 attacks on 200
   images, six preprocessing defenses, the series' shipped classifier, restorer and ComDefend;
   at most 2 repeats, so that the reference fits in minutes): every defense attacked anew (no
   sharing) vs one shared set made once (cold cache) vs read back (warm).
3. How cost grows with the number of test images (1k, 2k, 5k, 10k): FGSM and BIM on MNIST
   against the series' shipped LeNet, scored without and with the shipped defense; seconds per
   1,000 images (at most 3 repeats: the 10k point alone takes a minute).

Every model is the ``cpu`` series' shipped one (:mod:`shipped`, nothing trained) and each row
names it in its ``models`` column.

Median of ``--repeats`` timed runs. Not a test: run by hand; ``recdef report`` renders the CSV
into the page named below.

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
from shipped import series_models, transfer_classifier  # benchmarks/ is on the path as a script

from reconstruction_defense.attacks.registry import AttackParams
from reconstruction_defense.config.profiles import get_profile, recipe_for
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.weights import weights_ids
from reconstruction_defense.evaluation.scoring import evaluate, predict
from reconstruction_defense.experiments.comparison import comparison_levels
from reconstruction_defense.method.baselines import FeatureSqueezing, JPEGCompression
from reconstruction_defense.method.quantize import Quantizer
from reconstruction_defense.training.zoo import load_only, trained_comdefend


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def defense_overhead(repeats: int) -> list[dict]:
    rows = []
    for dataset in ("mnist", "fashion_mnist", "cifar10"):
        test = load_dataset(dataset, "test", n=1000, seed=0)
        models = series_models(dataset)
        classifier, defense = models.classifier.eval(), models.defense.eval()
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
                    "models": weights_ids(classifier, defense),
                }
            )
    return rows


def cache_benefit(repeats: int, workdir: Path) -> list[dict]:
    profile = get_profile("cpu")
    test = load_dataset("fashion_mnist", "test", n=200, seed=profile.seed)
    models = series_models("fashion_mnist", workdir)
    with load_only():
        clean_share = models.train.sample(profile.baselines.n_train, profile.seed)  # as notebook 05 trains it
        comdefend = trained_comdefend(clean_share, profile, workdir).eval()
    classifier, k = models.classifier, recipe_for("fashion_mnist").k
    defenses = {
        "none": None,
        f"quantize k={k}": Quantizer(k),
        "ours": models.defense.eval(),
        "Feature Squeezing": FeatureSqueezing(bits=2, window=2),
        "ComDefend": comdefend,
        "JPEG": JPEGCompression(75),
    }
    attacks = comparison_levels(profile, "fashion_mnist")[0]  # level 0: the reference fits in minutes
    params = profile.attacks
    repeats = min(repeats, 2)  # each defense attacked anew: about 3 minutes per repeat

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
                "models": weights_ids(classifier, models.defense, comdefend),
            }
        )
    return rows


def scaling(repeats: int) -> list[dict]:
    classifier = transfer_classifier("mnist", "lenet").eval()
    defense = series_models("mnist").defense.eval()
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
                "models": weights_ids(classifier, defense),
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
