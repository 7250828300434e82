"""The model zoo: "model X trained on dataset D under profile P", trained once and then loaded.

Every kind (classifier, restorer, ComDefend, PixelCNN) goes through :func:`cached_fit`: its
checkpoint is named by a hash of everything that made it — the config, the training images, the
seed, and the code (the kind's version in :data:`CODE_VERSIONS`, bumped by hand when its training
or architecture changes) — so a changed recipe trains anew instead of loading a stale model. The
torch version is not in the key: another torch loads the same weights (the sidecar and the
weights manifest record the version a model was trained with).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config.profiles import ClassifierConfig, Profile, recipe_for
from ..data import checkpoints, weights
from ..data.checkpoints import config_key, model_digest, tensor_digest
from ..data.datasets import DatasetInfo, ImageSet, load_dataset
from ..method import Restorer, build_classifier
from ..method.baselines import ComDefend, PixelCNN
from ..method.classifiers import Classifier
from ..method.defense import ReconstructionDefense
from .loops import EpochFn, classifier_epoch, comdefend_epoch, fit, pixelcnn_epoch, restorer_epoch
from .recipe import augmentation_for, one_cycle

CODE_VERSIONS = {"classifier": 1, "restorer": 1, "comdefend": 1, "pixelcnn": 1}
_LOAD_ONLY = contextvars.ContextVar("load_only", default=False)
_NOTED: set = set()  # the notes already printed (one per file and process)


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
    """The code a model of ``kind`` is trained with (part of its key; not the torch version)."""
    return f"{kind} v{CODE_VERSIONS[kind]}"


def architecture(kind: str, info: DatasetInfo, config: dict[str, Any]) -> nn.Module:
    """A freshly initialised model of ``kind`` for ``info``'s images, sized by its training
    ``config`` (the one its key hashes, also kept in the weights manifest)."""
    if kind == "classifier":
        return build_classifier(config["arch"], info)
    if kind == "restorer":
        return Restorer(info.channels, config["n_blocks"], config["n_feats"], config["res_scale"])
    if kind == "comdefend":
        return ComDefend(info.channels)
    return PixelCNN(info.channels, config["width"], config["blocks"])


def cached_fit(
    kind: str,
    name: str,
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
    """:func:`architecture` ``(kind, data.info, config)``, seeded with ``seed``, trained ``epochs``
    epochs of ``epoch_fn`` on ``data`` with ``optimizer``
    (:func:`~reconstruction_defense.training.loops.make_optimizer`). Loaded from the shipped
    weights (:mod:`~reconstruction_defense.data.weights`, digest checked) when they hold
    ``<dataset>-<name>-<hash>``, else from ``<workdir>/checkpoints/`` when that training was done
    (resumed when it was interrupted), else trained. A shipped model of the same name made with
    another config is never used, and a note says where the configs differ. ``config`` holds the
    kind's own settings; the dataset, training images, epochs, learning rate, seed and code
    version are added here. The model comes back in eval mode, on ``device``, with its per-epoch
    ``history``, its ``config``, its ``checkpoint_stem`` and ``shipped`` (its manifest entry, or
    None). The checkpoint is saved from and loaded to the CPU, so it serves any device."""
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
    model = architecture(kind, data.info, config).to(device)
    stem = Path(workdir) / "checkpoints" / f"{data.info.name}-{name}-{config_key(config)}"
    model.checkpoint_stem, model.config, model.shipped = stem, config, None
    found = weights.shipped(stem.name)
    if found is not None:
        return _load_shipped(model, *found)
    _say_if_shipped_differs(stem.name, config)
    if _LOAD_ONLY.get() and not (
        checkpoints.exists(stem) and json.loads(checkpoints.paths(stem)[1].read_text()).get("epoch") == epochs
    ):
        raise NotCached(f"{stem.name} is not a finished checkpoint")
    model.history = fit(
        model, epoch_fn, epochs, lr, config, stem, f"{data.info.display_name} {name}", optimizer, weight_decay
    )
    return model.eval()


def _load_shipped(model: nn.Module, file: Path, entry: dict[str, Any]) -> nn.Module:
    device = next(model.parameters()).device
    model.load_state_dict({k: v.to(device) for k, v in weights.load_shipped(file, entry).items()})
    model.history, model.shipped = entry["history"], entry
    trained_with = entry["trained_with"]["torch"]
    if trained_with != torch.__version__ and file not in _NOTED:
        _NOTED.add(file)
        print(f"note: {file.name} was trained with torch {trained_with}; loaded under torch {torch.__version__}")
    return model.eval()


def _say_if_shipped_differs(name: str, config: dict[str, Any]) -> None:
    other = weights.nearest_other(name, config)
    if other is not None and name not in _NOTED:
        _NOTED.add(name)
        print(
            f"note: shipped weights {other[0]} are not used for {name}: its training config differs in "
            f"{', '.join(other[1])} (a changed recipe is a new model)"
        )


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
