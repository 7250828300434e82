"""Reliability: interrupted training resumes to the same weights, a finished step is never redone,
and bad files or unwritable outputs give one clear error without damaging what was written."""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

import reconstruction_defense
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data import checkpoints, outputs
from reconstruction_defense.data.datasets import (
    DATA_ENV,
    DataNotFoundError,
    DataUnreadableError,
    data_root,
    load_dataset,
)
from reconstruction_defense.data.outputs import OutputError
from reconstruction_defense.training import zoo

# Trains a LeNet 3 epochs on 6,000 real MNIST images with a checkpoint per epoch, then prints
# the sha256 of its final weights. Run in a subprocess so that it can really be killed.
TRAIN_SCRIPT = """
import signal, sys, torch
signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.data.checkpoints import model_digest
from reconstruction_defense.method import build_classifier
from reconstruction_defense.training.loops import classifier_epoch, fit
torch.set_num_threads(1)
data = load_dataset("mnist", "train", n=6000, seed=0)
torch.manual_seed(0)
model = build_classifier("lenet", data.info)
fit(model, classifier_epoch(data, 32, 0), 3, 1e-3, {"test": "kill"}, sys.argv[1])
print(model_digest(model))
"""


def _train(stem: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, DATA_ENV: str(data_root().resolve()), "TQDM_DISABLE": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT, str(stem)], env=env, stdout=subprocess.PIPE, text=True, **popen
    )


def _epochs_done(stem: Path) -> int:
    sidecar = checkpoints.paths(stem)[1]
    return json.loads(sidecar.read_text())["epoch"] if sidecar.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted_digest(tmp_path_factory) -> str:
    proc = _train(tmp_path_factory.mktemp("straight") / "ck")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0
    return out.strip()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_training_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, sig, uninterrupted_digest):
    stem = tmp_path / "ck"
    proc = _train(stem)
    deadline = time.monotonic() + 300
    while _epochs_done(stem) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)  # during the second epoch
    proc.communicate(timeout=60)
    assert proc.returncode != 0, "the run finished before it could be interrupted"
    assert _epochs_done(stem) == 1
    checkpoints.load(stem, {"test": "kill"})  # what is on disk is whole and verifiable
    rerun = _train(stem)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0 and _epochs_done(stem) == 3
    assert out.strip() == uninterrupted_digest
    if sig == signal.SIGINT:  # a Python-level interrupt cleans its temporary files up
        assert not list(tmp_path.glob(".*.tmp"))


def test_a_finished_step_loads_and_never_trains_again(tmp_path, monkeypatch):
    profile = get_profile("smoke", data={"n_train": 500}, classifier={"epochs": 1})
    train = load_dataset("mnist", "train", n=500, seed=0)
    first = zoo.trained_classifier("lenet", train, profile, tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached classifier was trained again")

    monkeypatch.setattr(zoo, "classifier_epoch", lambda *a, **k: no_training)
    again = zoo.trained_classifier("lenet", train, profile, tmp_path)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_a_new_code_version_of_a_model_kind_trains_anew(tmp_path, monkeypatch):
    profile = get_profile("smoke", data={"n_train": 300}, classifier={"epochs": 1})
    train = load_dataset("mnist", "train", n=300, seed=0)
    zoo.trained_classifier("lenet", train, profile, tmp_path)
    zoo.trained_classifier("lenet", train, profile, tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("*.json"))) == 1
    monkeypatch.setitem(zoo.CODE_VERSIONS, "classifier", zoo.CODE_VERSIONS["classifier"] + 1)
    zoo.trained_classifier("lenet", train, profile, tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("*.json"))) == 2


def test_checkpoint_of_another_dataset_or_architecture_is_refused(tmp_path):
    profile = get_profile("smoke", **{"data.n_train": 300, "classifier.epochs": 1})
    mnist = load_dataset("mnist", "train", n=300, seed=0)
    zoo.trained_classifier("lenet", mnist, profile, tmp_path)
    [made] = (tmp_path / "checkpoints").glob("mnist-lenet-*.json")
    fashion = load_dataset("fashion_mnist", "train", n=300, seed=0)
    foreign = tmp_path / "checkpoints" / made.name.replace("mnist-", "fashion_mnist-")
    shutil.copy(made, foreign)  # the MNIST checkpoint under the name Fashion-MNIST's would get
    shutil.copy(made.with_suffix(".safetensors"), foreign.with_suffix(".safetensors"))
    config = json.loads(made.read_text())["config"]
    with pytest.raises(checkpoints.CheckpointError, match=r"another config \(differs in \['dataset'"):
        checkpoints.load(foreign.with_suffix(""), {**config, "dataset": fashion.info.display_name})
    with pytest.raises(checkpoints.CheckpointError, match=r"differs in \['arch'\].*delete"):
        checkpoints.load(made.with_suffix(""), {**config, "arch": "resnet20"})


@pytest.mark.parametrize(
    "code,fix",
    [(errno.EACCES, "make .* writable"), (errno.EROFS, "make .* writable"), (errno.ENOSPC, "free space on the disk")],
)
def test_unwritable_output_is_one_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch, code, fix):
    target = tmp_path / "results" / "table.csv"
    outputs.atomic_write(target, b"old results")

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=rf"cannot write {target}: .*; {fix}"):
        outputs.atomic_write(target, b"new results")
    assert target.read_bytes() == b"old results"


def test_full_disk_during_a_checkpoint_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    stem = tmp_path / "ck"
    checkpoints.save(stem, {"w": torch.ones(3)}, {"config": {"epoch": 1}})
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd, mode):
            self.fh = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", FullDisk)
    with pytest.raises(OutputError, match="ck.safetensors: No space left on device; free space"):
        checkpoints.save(stem, {"w": torch.zeros(3)}, {"config": {"epoch": 2}})
    monkeypatch.undo()
    tensors, meta = checkpoints.load(stem, {"epoch": 1})
    assert torch.equal(tensors["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


def _copy_mnist(tmp_path: Path) -> Path:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root() / "MNIST" / "raw").iterdir():
        if not f.name.endswith(".gz"):
            shutil.copy(f, raw)
    return raw


def test_truncated_data_file_is_named_not_called_missing(tmp_path):
    raw = _copy_mnist(tmp_path)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100_000])
    with pytest.raises(DataUnreadableError, match=r"t10k-images-idx3-ubyte.*truncated or corrupt"):
        load_dataset("mnist", "test", root=tmp_path, download=False)
    assert load_dataset("mnist", "train", n=10, root=tmp_path, download=False).images.shape[0] == 10


def test_truncated_archive_is_named_and_a_failed_lookup_leaves_nothing(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root() / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, raw)
    archive = raw / "t10k-images-idx3-ubyte.gz"
    archive.chmod(0o644)
    archive.write_bytes(archive.read_bytes()[:100_000])
    with pytest.raises(DataUnreadableError, match=r"t10k-images-idx3-ubyte\.gz.*truncated or corrupt"):
        load_dataset("mnist", "test", root=tmp_path)
    empty = tmp_path / "empty"
    with pytest.raises(DataNotFoundError, match="--data-root"):
        load_dataset("mnist", "test", root=empty)
    assert not empty.exists()  # the download attempt's folders are removed again


def test_corrupt_image_in_a_folder_is_named(tmp_path):
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("L", (8, 8)).save(tmp_path / split / cls / "0.png")
    (tmp_path / "test" / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataUnreadableError, match=r"cannot read image .*b/1\.png"):
        load_dataset(str(tmp_path), "test")


def test_no_pickle_loading_anywhere_in_the_package():
    """Loading never runs code from a file: no torch.load, pickle or allow_pickle in the package."""
    banned = {("torch", "load"), ("pickle", "load"), ("pickle", "loads"), ("np", "load"), ("numpy", "load")}
    package = Path(reconstruction_defense.__file__).parent
    found = []
    for file in package.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in banned
            ):
                found.append(f"{file.name}:{node.lineno} {node.value.id}.{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                found += [
                    f"{file.name}:{node.lineno} import {n}"
                    for n in names
                    if n.split(".")[0] in ("pickle", "dill", "joblib")
                ]
    assert not found, found


def test_a_run_split_by_dataset_adds_up_instead_of_overwriting(tmp_path):
    path = tmp_path / "adaptive_accuracy.csv"
    first = pd.DataFrame({"dataset": ["MNIST", "MNIST", "Fashion-MNIST"], "accuracy": [0.9, 0.8, 0.6]})
    outputs.save_table(first, path)
    outputs.save_table(pd.DataFrame({"dataset": ["CIFAR-10"], "accuracy": [0.3]}), path)
    outputs.save_table(pd.DataFrame({"dataset": ["MNIST"], "accuracy": [0.5]}), path)  # MNIST redone
    table = pd.read_csv(path)
    assert sorted(zip(table.dataset, table.accuracy)) == [("CIFAR-10", 0.3), ("Fashion-MNIST", 0.6), ("MNIST", 0.5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adaptive_accuracy.csv"]


def test_notebooks_write_files_only_through_the_atomic_helpers():
    """A cell calling ``to_csv`` or ``savefig`` would write in place: a run stopped mid-write
    leaves a half file that the README report or the next notebook reads."""
    notebooks = Path(__file__).parent.parent / "notebooks"
    found = []
    for path in sorted(notebooks.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code":
                found += [f"{path.name} cell {i}: {call}" for call in (".to_csv(", ".savefig(") if call in source]
    assert not found, found
