"""The models the benchmarks measure: the ``cpu`` series' shipped weights (``weights/cpu``), loaded
and never trained, so every benchmark row names in its ``models`` column the weights it ran on
(the provenance rule of the results, :mod:`reconstruction_defense.reporting.provenance`)."""

from __future__ import annotations

from pathlib import Path

from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.method.classifiers import Classifier
from reconstruction_defense.training.zoo import ModelsAndData, load_only, train_or_load, trained_classifier


def series_models(dataset: str, workdir: Path = Path("runs")) -> ModelsAndData:
    """``dataset``'s series classifier and defense as the notebooks load them under ``cpu``;
    raises ``NotCached`` when a model is not shipped (a benchmark never trains)."""
    with load_only():
        return train_or_load(dataset, get_profile("cpu"), None, workdir)


def transfer_classifier(dataset: str, arch: str, workdir: Path = Path("runs")) -> Classifier:
    """One of notebook 04's shipped transfer classifiers (``arch`` on ``dataset``)."""
    profile = get_profile("cpu")
    train = load_dataset(dataset, "train", n=profile.data.n_train, seed=profile.seed)
    with load_only():
        return trained_classifier(arch, train, profile, workdir)
