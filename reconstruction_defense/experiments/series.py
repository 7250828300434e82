"""Every trained model a profile's notebook series uses, with its role, in the order ``recdef
train`` makes them (the main classifier and restorer of each dataset first, the seed spread
last), and the quality each one's manifest entry records.

The models are asked for exactly as the experiments ask for them (the same zoo calls on the
same images), so a model made here is the one a notebook loads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config.profiles import Profile, recipe_for
from ..data.datasets import ImageSet, load_dataset
from ..evaluation.scoring import evaluate, predict, psnr, transform, wilson_interval
from ..training.zoo import trained_classifier, trained_comdefend, trained_defense, trained_pixelcnn
from .adaptive_verdict import surrogate_arch
from .transfer import transfer_archs

DATASETS = ("mnist", "fashion_mnist", "cifar10")
BASELINE_DATASETS = ("fashion_mnist",)  # Table 4 (notebook 05) and notebook 07 run on Fashion-MNIST


@dataclass(frozen=True)
class SeriesModel:
    """One model of the series: which dataset, what it is for, and the zoo call that loads or
    trains it (for a restorer, also the call for the classifier it defends)."""

    dataset: str
    role: str
    label: str
    make: Callable[[], nn.Module]
    defends: Callable[[], nn.Module] | None = None

    @property
    def kind(self) -> str:
        """classifier, restorer, comdefend or pixelcnn."""
        return self.role.split(": ")[-1]

    def published(self, made: nn.Module) -> nn.Module:
        """The module of ``make()``'s result that ships: a defense's restorer, else the model."""
        return made.restorer if self.kind == "restorer" else made

    @property
    def group(self) -> str:
        """main, transfer, adversarially trained (...), baseline or seed spread."""
        return self.role.split(": ")[0] if ": " in self.role else "main"


def series_models(
    profile: Profile, datasets: tuple[str, ...], data_root: str | None = None, workdir: Path = Path("runs")
) -> list[SeriesModel]:
    """The models notebooks 01-08 use under ``profile`` on ``datasets``, in training order."""

    @functools.cache
    def train_set(dataset: str, n: int | None, seed: int) -> ImageSet:
        return load_dataset(dataset, "train", root=data_root, n=n, seed=seed)

    def main_pair(dataset: str, p: Profile, role: str) -> list[SeriesModel]:
        arch = p.classifier.arch

        def classifier() -> nn.Module:
            return trained_classifier(arch, train_set(dataset, p.data.n_train, p.seed), p, workdir)

        def defense() -> nn.Module:
            restorer_train = train_set(dataset, p.restorer.for_dataset(dataset).n_train, p.seed + 1)
            return trained_defense(classifier(), restorer_train, p, workdir)

        tag = f" seed {p.seed}" if role else ""
        return [
            SeriesModel(dataset, f"{role}classifier", f"{arch}{tag}", classifier),
            SeriesModel(dataset, f"{role}restorer", f"restorer{tag}", defense, classifier),
        ]

    def main_train(dataset: str) -> ImageSet:
        return train_set(dataset, profile.data.n_train, profile.seed)

    def classifier_of(dataset: str, arch: str, adversarial: tuple[str, float] | None = None) -> Callable:
        return lambda: trained_classifier(arch, main_train(dataset), profile, workdir, adversarial)

    def baseline(kind: str, dataset: str) -> SeriesModel:
        make = {"comdefend": trained_comdefend, "pixelcnn": trained_pixelcnn}[kind]
        share = lambda: main_train(dataset).sample(profile.baselines.n_train, profile.seed)  # noqa: E731
        return SeriesModel(dataset, f"baseline: {kind}", kind, lambda: make(share(), profile, workdir))

    plan = [m for d in datasets for m in main_pair(d, profile, "")]
    for d in datasets:
        others = dict.fromkeys([*transfer_archs(profile, d)[1:], surrogate_arch(profile, d)])
        plan += [SeriesModel(d, "transfer: classifier", arch, classifier_of(d, arch)) for arch in others]
    for d in (d for d in datasets if d in BASELINE_DATASETS):
        eps, arch = recipe_for(d).max_eps, profile.classifier.arch
        plan += [
            SeriesModel(d, f"adversarially trained ({a}): classifier", f"{arch} {a}", classifier_of(d, arch, (a, eps)))
            for a in ("fgsm", "bim")
        ]
        plan += [baseline("comdefend", d), baseline("pixelcnn", d)]
    for seed in (s for s in profile.spread.seeds if s != profile.seed):
        plan += [
            m
            for d in datasets
            if d in profile.spread.datasets
            for m in main_pair(d, replace(profile, seed=seed), "seed spread: ")
        ]
    return plan


def quality(model: SeriesModel, trained: nn.Module, profile: Profile, data_root: str | None = None) -> dict[str, Any]:
    """What the manifest records of a model's quality: a classifier's clean accuracy on the whole
    test set with its 95 % Wilson interval; a restorer's PSNR on clean images and the defended
    accuracy, clean and under FGSM at the paper's table eps on the bare classifier (Tables 1-3's
    protocol), on the profile's ``n_test`` validation images it was chosen on; ComDefend's PSNR
    and PixelCNN's bits per dimension on those validation images."""
    if model.kind == "classifier":
        test = load_dataset(model.dataset, "test", root=data_root)
        correct = int((predict(trained, test.images) == test.labels).sum())
        low, high = wilson_interval(correct, len(test))
        return {"split": "test", "n": len(test), "clean_accuracy": correct / len(test), "ci_low": low, "ci_high": high}
    validation = load_dataset(model.dataset, "validation", root=data_root, n=profile.data.n_test, seed=profile.seed)
    measured: dict[str, Any] = {"split": "validation", "n": len(validation)}
    if model.kind == "pixelcnn":
        with torch.no_grad():
            nats = torch.cat([trained.nll(x).reshape(1) for x in validation.images.split(250)]).mean()
        return measured | {"bits_per_dim": round(float(nats) / 0.6931471805599453, 4)}
    measured["psnr_clean"] = round(psnr(transform(trained, validation.images), validation.images), 2)
    if model.kind == "restorer":
        table = evaluate(
            model.defends(),
            validation,
            [("clean", 0.0), ("fgsm", recipe_for(model.dataset).table_eps)],
            {"defense": trained},
            params=profile.attacks,
            seed=profile.seed,
            progress=False,
        )
        measured |= {f"defended_{r.attack}": r.accuracy for r in table.itertuples()}
    return measured
