"""Which cells of the MNIST ``cpu`` table change when DeepFool and C&W come from torchattacks?

    python benchmarks/table_with_torchattacks.py [--n 200]

Loads the ``cpu`` profile's cached classifier and restorer (run the main command first), takes
the first ``--n`` of its 1,000 test images, and scores the same table rows with our attacks and
with torchattacks' (``deepfool_ta``, ``cw_ta``: one fixed c = 1 and as many total iterations as
ours), side by side, written to ``--out``. torchattacks' DeepFool is slow (one image at a time), hence
the subset.

Backs: docs/attacks.md, the table "The main command's DeepFool and C&W-L2 rows, ours against
torchattacks 3.5.1"; docs/results.md, "Which cells torchattacks' attacks would have changed".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.evaluation.scoring import evaluate
from reconstruction_defense.training.zoo import trained_classifier, trained_defense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results/table_mnist_cpu_torchattacks.csv"))
    args = parser.parse_args()
    profile = get_profile("cpu")
    train = load_dataset("mnist", "train", n=profile.data.n_train, seed=profile.seed)
    full = load_dataset("mnist", "test", n=profile.data.n_test, seed=profile.seed)
    test = full.head(args.n)
    classifier = trained_classifier(profile.classifier.arch, train, profile, args.workdir)
    restorer_train = load_dataset(
        "mnist", "train", n=profile.restorer.for_dataset("mnist").n_train, seed=profile.seed + 1
    )
    defense = trained_defense(classifier, restorer_train, profile, args.workdir)
    params = profile.attacks
    total_cw = profile.sweeps.cw_steps * params.cw_search_steps
    steps = profile.sweeps
    attacks = [
        ("deepfool", steps.deepfool_steps),
        ("deepfool_ta", steps.deepfool_steps),
        ("cw", steps.cw_steps),
        ("cw_ta", total_cw),
    ]
    table = evaluate(
        classifier,
        test,
        attacks,
        {"none": None, "defense": defense},
        params=params,
        cache_dir=args.workdir / "adversarial",
        seed=profile.seed,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"MNIST, {classifier.arch} (cpu), first {args.n} of the table's test images -> {args.out}")
    print(table[["defense", "attack", "strength", "accuracy", "ci_low", "ci_high"]].to_string(index=False))


if __name__ == "__main__":
    main()
