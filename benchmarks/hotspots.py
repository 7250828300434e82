"""Benchmark: what the ``cpu`` run's building blocks cost, and which CPU settings make them cheaper.

    RECDEF_DATA=/path/to/data python benchmarks/hotspots.py [--repeats 5] [--out results/benchmark_hotspots.csv]

Nearly all of a notebook's time goes into three kinds of step, repeated thousands of times:
a training step of a classifier, a gradient step of an attack on the bare classifier (FGSM, BIM,
DeepFool, C&W, PGD), and a gradient step through the whole defended pipeline (BPDA attacks of
notebooks 06 and 07: straight-through quantizer, restorer, classifier). Each is timed on real
test images with the ``cpu`` series' shipped classifier and restorer (:mod:`shipped`; each row
names them), its training batch and attack batch 500, the default before this benchmark made it
250, under the default settings, the reference, and under each candidate setting:

- channels-last memory format for weights and images (oneDNN's preferred layout on CPU);
- one intra-op thread instead of torch's default (one per core);
- half and twice the batch.

Ratio = the candidate's seconds per 1,000 images over the reference's, median of ``--repeats``
timed runs after one warm-up. Not a test: run by hand; ``recdef report`` renders the CSV into the page named below.

Backs: docs/profiles.md, "The building blocks, and which CPU settings make them cheaper".
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from pipeline import median_seconds  # benchmarks/ is on the path when run as a script
from shipped import series_models
from torch import Tensor, nn

from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.weights import weights_ids
from reconstruction_defense.evaluation.adaptive import bpda_pipeline
from reconstruction_defense.training.zoo import ModelsAndData

VARIANTS = ("default", "channels-last", "1 thread", "half the batch", "2x batch")
BATCH_SCALE = {"half the batch": 0.5, "2x batch": 2.0}
REFERENCE_ATTACK_BATCH = 500  # the attack batch this benchmark measured against; its result made it 250


def train_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def input_gradient_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], Tensor]:
    def step() -> Tensor:
        x_adv = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x_adv), y)
        return torch.autograd.grad(loss, x_adv)[0]

    return step


def workloads(models: ModelsAndData) -> dict[str, tuple[Callable[[], nn.Module], int, Callable]]:
    """name -> (model factory, cpu batch size, step maker) for one dataset's shipped classifier
    and defense, a fresh copy per variant (a training step changes the model)."""
    profile = get_profile("cpu")
    pipeline = bpda_pipeline(models.defense, models.classifier)
    return {
        "training step (classifier)": (
            lambda: copy.deepcopy(models.classifier).train(),
            profile.classifier.batch_size,
            train_step,
        ),
        "attack step, bare classifier": (
            lambda: copy.deepcopy(models.classifier).eval(),
            REFERENCE_ATTACK_BATCH,
            input_gradient_step,
        ),
        "attack step through BPDA pipeline": (
            lambda: copy.deepcopy(pipeline).eval(),
            REFERENCE_ATTACK_BATCH,
            input_gradient_step,
        ),
    }


def time_variant(
    variant: str,
    factory: Callable[[], nn.Module],
    batch: int,
    make_step: Callable,
    images: Tensor,
    labels: Tensor,
    repeats: int,
) -> float:
    """Seconds per 1,000 images of one step kind under ``variant``."""
    threads = torch.get_num_threads()
    n = int(BATCH_SCALE.get(variant, 1) * batch)
    x, y, model = images[:n], labels[:n], factory()
    if variant == "channels-last":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    if variant == "1 thread":
        torch.set_num_threads(1)
    try:
        step = make_step(model, x, y)
        step()  # warm-up: oneDNN picks and caches its kernels on the first call
        return 1000 * median_seconds(step, repeats) / n
    finally:
        torch.set_num_threads(threads)


def hotspots(repeats: int) -> list[dict]:
    rows = []
    for dataset in ("mnist", "cifar10"):
        test = load_dataset(dataset, "test", n=1000, seed=0)
        models = series_models(dataset)
        for name, (factory, batch, make_step) in workloads(models).items():
            reference = None
            for variant in VARIANTS:
                seconds = time_variant(variant, factory, batch, make_step, test.images, test.labels, repeats)
                reference = reference or seconds
                rows.append(
                    {
                        "dataset": test.info.display_name,
                        "step": name,
                        "variant": variant,
                        "batch": int(BATCH_SCALE.get(variant, 1) * batch),
                        "s_per_1000_images": seconds,
                        "ratio": seconds / reference,
                        "models": weights_ids(models.classifier, *([models.defense] if "BPDA" in name else [])),
                    }
                )
                print(
                    f"{test.info.display_name:>26} | {name:<34} | {variant:<14} | "
                    f"{seconds:7.3f} s/1k | {seconds / reference:.2f}x",
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results/benchmark_hotspots.csv"))
    args = parser.parse_args()
    table = pd.DataFrame(hotspots(args.repeats))
    table.round(4).to_csv(args.out, index=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default; written to {args.out}")


if __name__ == "__main__":
    main()
