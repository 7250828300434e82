"""Shared fixtures: real MNIST at small scale, a LeNet trained on it and the paper's defense for
it, each built once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.method import Restorer, build_classifier
from reconstruction_defense.method.defense import ReconstructionDefense
from reconstruction_defense.training.loops import classifier_epoch, fit, restorer_epoch


@pytest.fixture(scope="session")
def benchmark_script():
    """Loads ``benchmarks/<name>.py`` as a module (the scripts are not a package)."""

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def mnist_train():
    return load_dataset("mnist", "train", n=10_000, seed=0)


@pytest.fixture(scope="session")
def mnist_test():
    return load_dataset("mnist", "test", n=1_000, seed=0)


@pytest.fixture(scope="session")
def lenet(mnist_train):
    """LeNet trained 3 epochs on 10,000 real MNIST images (about 3 s on 2 cores)."""
    torch.manual_seed(0)
    model = build_classifier("lenet", mnist_train.info)
    fit(model, classifier_epoch(mnist_train, 64, 0), 3, 3e-3, {})
    return model.eval()


@pytest.fixture(scope="session")
def defense(lenet, mnist_train):
    """k = 2 + a 2-block restorer trained 2 epochs on 4,000 real MNIST images (the paper's recipe)."""
    torch.manual_seed(0)
    restorer = Restorer(1, n_blocks=2, n_feats=16)
    history = fit(restorer, restorer_epoch(mnist_train.head(4000), lenet, 2, 0.3, 0.5, 64, 0), 2, 1e-3, {})
    assert history[1]["mse"] < history[0]["mse"]  # it learns
    return ReconstructionDefense(restorer, k=2).eval()
