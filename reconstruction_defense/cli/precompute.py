"""Fill the cache the notebooks read — every checkpoint and adversarial set of the series — in one
process, or on many GPUs and nodes through ``torchrun``:

    recdef precompute --profile paper
    torchrun --nproc_per_node=8 -m reconstruction_defense.cli.precompute --profile paper
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 \\
        -m reconstruction_defense.cli.precompute --profile paper        # the same line on both nodes

Each step runs the experiment its notebook runs, so it makes exactly the cache entries the
notebook asks for: classifiers and restorers are trained with DistributedDataParallel on the
same global batches as one process; every attack's batches are dealt to the ranks and gathered;
only rank 0 writes. Scoring (cheap beside the attacks) is repeated on every rank, which keeps
the ranks in step. Afterwards ``recdef rerun --profile paper`` runs warm.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import distributed
from ..config.profiles import Profile, get_profile
from ..experiments.adaptive_verdict import (
    ablation,
    adaptive_evaluation,
    adversarial_training_evaluation,
    cw_convergence,
    l2_evaluation,
)
from ..experiments.comparison import comparison_table, squeeze_detection_table, whitebox_table
from ..experiments.pixel_depth import pixel_depth_table
from ..experiments.restoration import pipeline_examples
from ..experiments.strength import strength_table
from ..experiments.transfer import transfer_table
from ..training.zoo import ModelsAndData, train_or_load
from .common import add_common_options, add_override_option, profile_overrides, run_main

Step = Callable[[ModelsAndData, Profile, "str | None", Path], Any] | None
DATASETS = ("mnist", "fashion_mnist", "cifar10")
# step -> (the notebook whose cache it fills, the datasets that notebook runs by default, the work)
STEPS: dict[str, tuple[str, tuple[str, ...], Step]] = {
    "models": ("02", DATASETS, None),  # the classifier and restorer alone (every step loads them)
    "pixel_depth": ("01", DATASETS, lambda m, p, root, wd: pixel_depth_table(m.classifier, m.test, p, wd)),
    "restoration": ("02", DATASETS, lambda m, p, root, wd: pipeline_examples(m.classifier, m.defense, m.test, p, wd)),
    "strength": ("03", DATASETS, lambda m, p, root, wd: strength_table(m.classifier, m.defense, m.test, p, wd)),
    "transfer": ("04", DATASETS, lambda m, p, root, wd: transfer_table(m, p, wd)),
    "comparison": (
        "05",
        ("fashion_mnist",),
        lambda m, p, root, wd: (
            comparison_table(m, p, wd),
            whitebox_table(m, p, wd),
            squeeze_detection_table(m, p, wd),
        ),
    ),
    "adaptive": (
        "06",
        DATASETS,
        lambda m, p, root, wd: [
            step(m.train.info.name, p, root, wd)
            for step in (adaptive_evaluation, l2_evaluation, cw_convergence, ablation)
        ],
    ),
    "adversarial_training": (
        "07",
        ("fashion_mnist",),
        lambda m, p, root, wd: adversarial_training_evaluation(m.train.info.name, p, root, wd),
    ),
}


def precompute(profile: Profile, datasets: list[str], steps: list[str], data_root: str | None, workdir: Path) -> None:
    """Run ``steps`` on each of ``datasets`` that the step's notebook uses, in order."""
    say = print if distributed.is_writer() else (lambda *a, **k: None)
    for dataset in datasets:
        todo = [s for s in steps if dataset in STEPS[s][1]]
        if not todo:
            continue
        start = time.perf_counter()
        models = train_or_load(dataset, profile, data_root, workdir)
        say(
            f"[{profile.name}] {dataset}: classifier and restorer ready in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        for step in todo:
            notebook, _, work = STEPS[step]
            if work is None:
                continue
            start = time.perf_counter()
            work(models, profile, data_root, workdir)
            say(
                f"[{profile.name}] {dataset}: {step} (notebook {notebook}) done in {time.perf_counter() - start:.0f} s",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)  # under torchrun, --device cuda means cuda:LOCAL_RANK on each rank
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument(
        "--workdir",
        default="runs",
        type=Path,
        help="the cache: checkpoints/ and adversarial/ (the notebooks read ../runs)",
    )
    add_override_option(parser, "a notebook must use the same")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile, device=args.device, **profile_overrides(args.set))
    profile = replace(profile, device=distributed.init_from_env(profile.device))
    rank, world = distributed.rank_and_world()
    if not rank:
        print(
            f"[{profile.name}] precompute on {world} rank(s), rank 0 on {profile.device}; "
            f"cache in {args.workdir.resolve()}",
            flush=True,
        )
    start = time.perf_counter()
    try:
        precompute(profile, args.datasets, args.steps, args.data_root, args.workdir)
    finally:
        distributed.shutdown()
    if not rank:
        print(f"precompute done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
