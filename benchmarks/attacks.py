"""Benchmark: our batched DeepFool and C&W-L2 against torchattacks 3.5.1, in one run.

    python benchmarks/attacks.py [--repeats 5] [--budget 120] [--out results/benchmark_attacks.csv]

MNIST: 1,000 real test images, the ``cpu`` series' shipped LeNet (a transfer classifier of notebook
04). CIFAR-10 (JPEG q75 copy): 500 test images, the series' shipped Fast CNN, the classifier
notebook 03 attacks. Nothing is trained (:mod:`shipped`): each row names the weights it ran on.
Throughput is images/s, the median of ``--repeats`` timed runs; success rate and median L2 are
over the images the classifier got right before the attack; the ``repeats`` column says how many
timed runs fit the budget. Not a test: run by hand; ``recdef report`` renders the CSV into the page
named below.

Backs: docs/attacks.md, "How fast and how strong: ours against torchattacks 3.5.1".
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from shipped import series_models, transfer_classifier  # benchmarks/ is on the path as a script

from reconstruction_defense.attacks.registry import AttackParams, run_attack
from reconstruction_defense.attacks.versions import attack_code
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.weights import weights_ids
from reconstruction_defense.evaluation.scoring import predict

# (attack, implementation, registry name, iterations per run, extra params). C&W at equal total
# iterations: ours 50 per binary-search step x the profile's search steps, torchattacks' as many at
# one fixed c (None: set from the profile in main).
VARIANTS = [
    ("deepfool", "ours", "deepfool", 50, {}),
    ("deepfool", "ours, top-3 candidate classes", "deepfool", 50, {"deepfool_candidates": 3}),
    ("deepfool", "torchattacks", "deepfool_ta", 50, {}),
    ("cw", "ours", "cw", 50, {}),
    ("cw", "torchattacks", "cw_ta", None, {}),
]


def measure(name, model, x, y, steps, params, repeats, budget):
    """Median wall time over ``repeats`` runs (fewer once ``budget`` seconds are spent: the slow
    per-image reference would otherwise take hours), plus success rate and median L2."""
    times: list[float] = []
    while len(times) < repeats and sum(times) < budget:
        start = time.perf_counter()
        adv = run_attack(name, model, x, y, steps, params)
        times.append(time.perf_counter() - start)
    correct = predict(model, x) == y
    fooled = correct & (predict(model, adv) != y)
    l2 = (adv - x).flatten(1).norm(dim=1)[fooled]
    return {
        "repeats": len(times),
        "seconds": statistics.median(times),
        "images_per_s": len(x) / statistics.median(times),
        "success_rate": fooled.sum().item() / correct.sum().item(),
        "median_l2": l2.median().item() if len(l2) else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budget", type=float, default=120.0, help="stop repeating a measurement once it has used this many seconds"
    )
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results/benchmark_attacks.csv"))
    args = parser.parse_args()
    profile = get_profile("cpu")
    base = AttackParams(cw_lr=profile.attacks.cw_lr, cw_search_steps=profile.attacks.cw_search_steps)
    rows = []
    for dataset, arch, n in [("mnist", "lenet", 1000), ("cifar10", "fast_cnn", 500)]:
        test = load_dataset(dataset, "test", n=n, seed=profile.seed)
        model = (
            series_models(dataset, args.workdir).classifier
            if arch == profile.classifier.arch
            else transfer_classifier(dataset, arch, args.workdir)
        )
        for attack, impl, name, steps, extra in VARIANTS:
            params, steps = replace(base, **extra), steps or 50 * base.cw_search_steps
            result = measure(name, model, test.images, test.labels, steps, params, args.repeats, args.budget)
            rows.append(
                {
                    "dataset": test.info.display_name,
                    "model": arch,
                    "attack": attack,
                    "implementation": impl,
                    "iterations": steps * (params.cw_search_steps if name == "cw" else 1),
                    "n": n,
                    **result,
                    "models": weights_ids(model),
                    "code_of": name,  # torchattacks' rows rest on its wrappers' code, not ours
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["attack_code"] = attack_code(table.pop("code_of"))
    reference = table[table.implementation == "torchattacks"].set_index(["dataset", "attack"]).images_per_s
    table["speedup"] = [ips / reference[d, a] for d, a, ips in zip(table.dataset, table.attack, table.images_per_s)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
