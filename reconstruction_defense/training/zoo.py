"""The model zoo: "model X trained on dataset D under profile P", trained once and then loaded.

Every kind (classifier, restorer, ComDefend, PixelCNN) goes through :func:`cached_fit`: its
checkpoint is named by a hash of everything that made it — the config, the training images, the
seed, and the code (the kind's version in :data:`CODE_VERSIONS`, bumped by hand when its training
or architecture changes, and the torch version) — so a changed recipe trains anew instead of
loading a stale model.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config.profiles import ClassifierConfig, Profile, recipe_for
from ..data import checkpoints
from ..data.checkpoints import config_key, model_digest, tensor_digest
from ..data.datasets import ImageSet, load_dataset
from ..method import Restorer, build_classifier
from ..method.baselines import ComDefend, PixelCNN
from ..method.classifiers import Classifier
from ..method.defense import ReconstructionDefense
from .loops import EpochFn, classifier_epoch, comdefend_epoch, fit, pixelcnn_epoch, restorer_epoch
from .recipe import augmentation_for, one_cycle

CODE_VERSIONS = {"classifier": 1, "restorer": 1, "comdefend": 1, "pixelcnn": 1}
_LOAD_ONLY = contextvars.ContextVar("load_only", default=False)


class NotCached(LookupError):
    """Under :func:`load_only`, a model that would have to be trained."""


@contextlib.contextmanager
def load_only():
    """Inside, :func:`cached_fit` loads finished checkpoints and raises :class:`NotCached` instead
    of training (the explorer's test for which profile's models this machine already has)."""
    token = _LOAD_ONLY.set(True)
    try:
        yield
    finally:
        _LOAD_ONLY.reset(token)


def code_version(kind: str) -> str:
    """The code a model of ``kind`` is trained with: its version and the torch version."""
    return f"{kind} v{CODE_VERSIONS[kind]}, torch {torch.__version__}"


def cached_fit(
    kind: str,
    name: str,
    build: Callable[[], nn.Module],
    epoch_fn: EpochFn,
    data: ImageSet,
    epochs: int,
    lr: float,
    seed: int,
    config: dict[str, Any],
    workdir: Path,
    device: str = "cpu",
    optimizer: str = "adam",
    weight_decay: float = 0.0,
) -> nn.Module:
    """``build()`` (seeded with ``seed``) trained ``epochs`` epochs of ``epoch_fn`` on ``data`` with
    ``optimizer`` (:func:`~reconstruction_defense.training.loops.make_optimizer`), or
    loaded from ``<workdir>/checkpoints/<dataset>-<name>-<hash>`` when that training was done
    (resumed when it was interrupted). ``config`` holds the kind's own settings; the dataset,
    training images, epochs, learning rate, seed and code version are added here. The model
    comes back in eval mode, on ``device``, with its per-epoch ``history``. The checkpoint is
    saved from and loaded to the CPU, so it serves any device."""
    config = {
        "kind": kind,
        **config,
        "dataset": data.info.display_name,
        "train_images": tensor_digest(data.indices)[:16],
        "epochs": epochs,
        "lr": lr,
        "seed": seed,
        "code": code_version(kind),
    }
    torch.manual_seed(seed)
    model = build().to(device)
    stem = Path(workdir) / "checkpoints" / f"{data.info.name}-{name}-{config_key(config)}"
    if _LOAD_ONLY.get() and not (
        checkpoints.exists(stem) and json.loads(checkpoints.paths(stem)[1].read_text()).get("epoch") == epochs
    ):
        raise NotCached(f"{stem.name} is not a finished checkpoint")
    model.history = fit(
        model, epoch_fn, epochs, lr, config, stem, f"{data.info.display_name} {name}", optimizer, weight_decay
    )
    return model.eval()


_ADAM_RECIPE = {
    "optimizer": "adam",
    "schedule": "constant",
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "max_shift": 0,
    "flip": False,
}


def recipe_changes(cfg: ClassifierConfig, train: ImageSet) -> dict[str, Any]:
    """The training-recipe settings where ``cfg`` on ``train``'s dataset leaves the default Adam
    recipe: part of a classifier's cache key (the defaults are left out, so models trained before
    the fast recipe existed keep their keys)."""
    max_shift, flip = augmentation_for(train.info.name, min(train.info.size)) if cfg.augment else (0, False)
    settings = {
        "optimizer": cfg.optimizer,
        "schedule": cfg.schedule,
        "weight_decay": cfg.weight_decay,
        "label_smoothing": cfg.label_smoothing,
        "max_shift": max_shift,
        "flip": flip,
    }
    return {k: v for k, v in settings.items() if v != _ADAM_RECIPE[k]}


def trained_classifier(
    arch: str,
    train: ImageSet,
    profile: Profile,
    workdir: Path = Path("runs"),
    adversarial: tuple[str, float] | None = None,
) -> Classifier:
    """Classifier ``arch`` trained on ``train`` with the profile's classifier recipe. With
    ``adversarial`` = (attack, eps) it is adversarially trained (Goodfellow et al. 2015), on the
    epochs and images of the profile's ``adversarial_training``."""
    cfg, epochs = profile.classifier, profile.classifier.epochs_for(train.info.name)
    if adversarial is not None:
        at = profile.adversarial_training
        epochs, train = at.epochs or epochs, train.sample(at.n_train, profile.seed)
    recipe = recipe_changes(cfg, train)
    lr_at = (lambda t: one_cycle(cfg.lr, t / epochs)) if cfg.schedule == "one_cycle" else None
    epoch_fn = classifier_epoch(
        train,
        cfg.batch_size,
        profile.seed,
        adversarial,
        profile.attacks,
        label_smoothing=cfg.label_smoothing,
        max_shift=recipe.get("max_shift", 0),
        flip=recipe.get("flip", False),
        lr_at=lr_at,
    )
    return cached_fit(
        "classifier",
        arch,
        lambda: build_classifier(arch, train.info),
        epoch_fn,
        train,
        epochs,
        cfg.lr,
        profile.seed,
        {"arch": arch, "batch_size": cfg.batch_size, "adversarial": adversarial, **recipe},
        workdir,
        profile.device,
        cfg.optimizer,
        cfg.weight_decay,
    )


def trained_defense(
    classifier: Classifier, train: ImageSet, profile: Profile, workdir: Path = Path("runs")
) -> ReconstructionDefense:
    """The quantize-then-restore defense for ``train``'s dataset, its restorer trained with the
    paper's recipe (:func:`~reconstruction_defense.training.loops.restorer_loss`: FGSM at the dataset's
    largest eps against ``classifier``)."""
    recipe, cfg = recipe_for(train.info.name), profile.restorer.for_dataset(train.info.name)
    epoch_fn = restorer_epoch(
        train, classifier, recipe.k, recipe.max_eps, cfg.adv_fraction, cfg.batch_size, profile.seed
    )
    config = {
        "k": recipe.k,
        "eps": recipe.max_eps,
        "adv_fraction": cfg.adv_fraction,
        "classifier": model_digest(classifier)[:16],
        "n_blocks": cfg.n_blocks,
        "n_feats": cfg.n_feats,
        "res_scale": cfg.res_scale,
        "batch_size": cfg.batch_size,
    }
    restorer = cached_fit(
        "restorer",
        "restorer",
        lambda: Restorer(train.info.channels, cfg.n_blocks, cfg.n_feats, cfg.res_scale),
        epoch_fn,
        train,
        cfg.epochs,
        cfg.lr,
        profile.seed,
        config,
        workdir,
        profile.device,
    )
    defense = ReconstructionDefense(restorer, recipe.k).eval()
    defense.history = restorer.history
    return defense


def trained_comdefend(train: ImageSet, profile: Profile, workdir: Path = Path("runs")) -> ComDefend:
    """ComDefend (Jia et al. 2019) trained on ``train``'s clean images."""
    cfg = profile.baselines
    epoch_fn = comdefend_epoch(train, cfg.comdefend_code_weight, cfg.batch_size, profile.seed)
    return cached_fit(
        "comdefend",
        "comdefend",
        lambda: ComDefend(train.info.channels),
        epoch_fn,
        train,
        cfg.comdefend_epochs,
        cfg.comdefend_lr,
        profile.seed,
        {"code_weight": cfg.comdefend_code_weight, "batch_size": cfg.batch_size},
        workdir,
        profile.device,
    )


def trained_pixelcnn(train: ImageSet, profile: Profile, workdir: Path = Path("runs")) -> PixelCNN:
    """PixelDefend's density model (Song et al. 2018), trained on ``train``'s clean images."""
    cfg = profile.baselines
    return cached_fit(
        "pixelcnn",
        "pixelcnn",
        lambda: PixelCNN(train.info.channels, cfg.pixelcnn_width, cfg.pixelcnn_blocks),
        pixelcnn_epoch(train, cfg.batch_size, profile.seed),
        train,
        cfg.pixelcnn_epochs,
        cfg.pixelcnn_lr,
        profile.seed,
        {"width": cfg.pixelcnn_width, "blocks": cfg.pixelcnn_blocks, "batch_size": cfg.batch_size},
        workdir,
        profile.device,
    )


@dataclass
class ModelsAndData:
    """One dataset's train and test images, its trained main classifier and its trained defense."""

    train: ImageSet
    test: ImageSet
    classifier: Classifier
    defense: ReconstructionDefense


def train_or_load(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> ModelsAndData:
    """Load ``dataset`` at the profile's sizes and train (or load) its classifier and defense.

    The restorer is trained on a separate draw of training images (seed + 1), as the paper
    trains the defense and the classifier each on the training set.
    """
    train = load_dataset(dataset, "train", root=data_root, n=profile.data.n_train, seed=profile.seed)
    test = load_dataset(dataset, "test", root=data_root, n=profile.data.n_test, seed=profile.seed)
    classifier = trained_classifier(profile.classifier.arch, train, profile, workdir)
    restorer_train = load_dataset(
        dataset, "train", root=data_root, n=profile.restorer.for_dataset(dataset).n_train, seed=profile.seed + 1
    )
    return ModelsAndData(train, test, classifier, trained_defense(classifier, restorer_train, profile, workdir))
