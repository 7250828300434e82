import json
import os

import pytest
import torch

from reconstruction_defense.data import checkpoints, outputs
from reconstruction_defense.data.checkpoints import CheckpointError
from reconstruction_defense.data.datasets import INFOS
from reconstruction_defense.method import build_classifier
from reconstruction_defense.training.loops import classifier_epoch, fit, vector_flags


def test_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = build_classifier("resnet20", INFOS["mnist"])
    stem = tmp_path / "ck"
    checkpoints.save(stem, model.state_dict(), {"config": {"a": 1}})
    tensors, meta = checkpoints.load(stem, {"a": 1})
    assert meta["config"] == {"a": 1} and len(meta["sha256"]) == 64
    for name, value in model.state_dict().items():
        assert torch.equal(tensors[name], value) and tensors[name].dtype == value.dtype


def test_corrupt_weights_are_detected(tmp_path):
    stem = tmp_path / "ck"
    checkpoints.save(stem, {"w": torch.ones(10)}, {"config": {}})
    weights, _ = checkpoints.paths(stem)
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=r"ck.safetensors does not match the sha256.*delete"):
        checkpoints.load(stem)


def test_foreign_config_is_rejected(tmp_path):
    stem = tmp_path / "ck"
    checkpoints.save(stem, {"w": torch.ones(1)}, {"config": {"dataset": "MNIST", "arch": "lenet"}})
    with pytest.raises(CheckpointError, match=r"another config \(differs in \['dataset'\]"):
        checkpoints.load(stem, {"dataset": "Fashion-MNIST", "arch": "lenet"})


def test_missing_or_garbled_sidecar(tmp_path):
    stem = tmp_path / "ck"
    checkpoints.save(stem, {"w": torch.ones(1)}, {"config": {}})
    checkpoints.paths(stem)[1].write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        checkpoints.load(stem)
    checkpoints.paths(stem)[0].unlink()
    with pytest.raises(CheckpointError, match="missing"):
        checkpoints.load(stem)


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    outputs.atomic_write(target, b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        outputs.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["table.csv"]  # no temporary file left behind


def test_resume_equals_uninterrupted_run(tmp_path, mnist_train):
    data = mnist_train.head(2000)

    def train(epochs, stem):
        torch.manual_seed(0)
        model = build_classifier("lenet", data.info)
        fit(model, classifier_epoch(data, 64, 0), epochs, 1e-3, {"run": 1}, stem)
        return model

    straight = train(2, None)
    train(1, tmp_path / "resume")  # "interrupted" after one epoch
    sidecar = json.loads(checkpoints.paths(tmp_path / "resume")[1].read_text())
    assert sidecar["epoch"] == 1
    assert sidecar["trained_with"] == {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": vector_flags(),
        "ranks": 1,
    }
    resumed = train(2, tmp_path / "resume")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_with_more_epochs_than_asked_is_an_error(tmp_path, mnist_train):
    data = mnist_train.head(256)
    model = build_classifier("lenet", data.info)
    fit(model, classifier_epoch(data, 64, 0), 2, 1e-3, {}, tmp_path / "ck")
    with pytest.raises(CheckpointError, match="holds 2 epochs but 1 were asked for"):
        fit(model, classifier_epoch(data, 64, 0), 1, 1e-3, {}, tmp_path / "ck")


def test_history_reads_the_same_trained_or_reloaded(tmp_path):
    """A warm rerun must write the same table as the cold one, column order included."""
    model = torch.nn.Linear(2, 2)

    def epoch_fn(model, opt, epoch):
        return {"zeta": 1.0, "alpha": 2.0}

    trained = fit(model, epoch_fn, 1, 1e-3, {}, tmp_path / "ck")
    reloaded = fit(model, epoch_fn, 1, 1e-3, {}, tmp_path / "ck")
    assert [list(h) for h in trained] == [list(h) for h in reloaded] == [["alpha", "seconds", "zeta"]]
