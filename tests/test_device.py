"""The device path, tested on a machine without a GPU: the device is resolved (and a missing CUDA
refused) before any data is loaded; every tensor the package creates inside an attack or a
training step names its device; the paper profile's own architectures run end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import reconstruction_defense
from reconstruction_defense.attacks.registry import ATTACKS, AttackParams, run_attack
from reconstruction_defense.cli import run
from reconstruction_defense.config.device import DeviceError, resolve_device
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.evaluation.exact import exact_robustness
from reconstruction_defense.experiments.transfer import paper_protocol_table, transfer_table
from reconstruction_defense.method import Restorer, build_classifier
from reconstruction_defense.method.baselines import ComDefend, PixelCNN, PixelDefend
from reconstruction_defense.method.defense import Defended, ReconstructionDefense
from reconstruction_defense.training import zoo
from reconstruction_defense.training.loops import classifier_epoch, comdefend_epoch, fit, pixelcnn_epoch, restorer_epoch

PACKAGE = Path(reconstruction_defense.__file__).parent
FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.full,
    torch.empty,
    torch.arange,
    torch.tensor,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
    torch.eye,
    torch.linspace,
}


class DevicelessFactories(TorchFunctionMode):
    """Records every tensor factory called without ``device=`` from a file under ``roots``: on a
    GPU such a tensor lands on the CPU beside CUDA tensors."""

    def __init__(self, *roots: Path):
        super().__init__()
        self.roots, self.found = [str(r) for r in roots], []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and "device" not in kwargs:
            frame = sys._getframe(1)
            while (
                frame is not None
                and f"{Path('torch')}/" in frame.f_code.co_filename.replace("\\", "/")
                and not any(frame.f_code.co_filename.startswith(r) for r in self.roots)
            ):
                frame = frame.f_back
            if frame is not None and any(frame.f_code.co_filename.startswith(r) for r in self.roots):
                self.found.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {func.__name__}")
        return func(*args, **kwargs)


def _planted_step() -> torch.Tensor:
    return torch.zeros(3) + torch.ones(3, device="cpu")


def test_the_factory_check_catches_a_tensor_made_without_its_device():
    with DevicelessFactories(Path(__file__).parent) as watch:
        _planted_step()
    assert len(watch.found) == 1 and watch.found[0].startswith("test_device.py:") and "zeros" in watch.found[0]


def test_every_attack_and_training_step_names_the_device_of_what_it_creates(lenet, mnist_train, mnist_test):
    x, y = mnist_test.images[:8], mnist_test.labels[:8]
    tiny = mnist_train.head(16)
    params = AttackParams(bim_steps=2, cw_search_steps=2, pgd_steps=2, apgd_steps=2, square_queries=5)
    models = {
        "classifier": build_classifier("lenet", tiny.info),
        "restorer": Restorer(1, 1, 4),
        "comdefend": ComDefend(1),
        "pixelcnn": PixelCNN(1, 4, 1),
    }
    steps = {
        "classifier": classifier_epoch(tiny, 8, 0, ("fgsm", 0.1)),
        "restorer": restorer_epoch(tiny, lenet, 2, 0.3, 0.5, 8, 0),
        "comdefend": comdefend_epoch(tiny, 1e-4, 8, 0),
        "pixelcnn": pixelcnn_epoch(tiny, 8, 0),
    }
    purifier = PixelDefend(models["pixelcnn"]).eval()
    pipeline = Defended(ReconstructionDefense(Restorer(1, 1, 4), 2, straight_through=True), lenet).eval()
    with DevicelessFactories(PACKAGE) as watch:
        for name, info in ATTACKS.items():  # the flip search attacks a quantizing pipeline
            run_attack(name, pipeline if name == "flip" else lenet, x, y, 0.1 if info.strength == "eps" else 2, params)
        for kind, epoch_fn in steps.items():
            fit(models[kind], epoch_fn, 1, 1e-3, {})
        purifier(x[:2, :, :6, :6])
        exact_robustness(torch.nn.Sequential(Restorer(1, 1, 4), lenet), x[:4], y[:4], 2, 0.1, 64, 8, progress=False)
    assert watch.found == []


def test_device_is_resolved_and_a_missing_cuda_refused_before_any_data(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and get_profile("smoke").device == "cpu"
    with pytest.raises(DeviceError, match="no CUDA device.*use --device cpu or auto"):
        get_profile("smoke", device="cuda")
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        resolve_device("gpu")

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the device was checked")

    monkeypatch.setattr(zoo, "load_dataset", no_data)
    with pytest.raises(SystemExit) as stop:  # argparse checks --device against this machine
        run.main(["--profile", "smoke", "--device", "cuda", "--workdir", str(tmp_path)])
    assert stop.value.code == 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_the_paper_profiles_architectures_run_end_to_end_at_tiny_size(tmp_path):
    """ResNet-50, the 16 x 64 restorer, then GoogLeNet and ResNet-101 behind it (Table 2's
    networks): the code path a GPU user runs, one step on 32 Fashion-MNIST images, 4 test
    images, one-step attacks (at 28 x 28 without the ImageNet stem these networks are slow on a CPU)."""
    profile = get_profile(
        "paper",
        device="cpu",
        data={"n_train": 32, "n_test": 4},
        classifier={"epochs": 1, "batch_size": 32, "transfer": ("googlenet", "resnet101")},
        restorer={"epochs": 1, "n_train": 32, "batch_size": 32},
        sweeps={"deepfool_steps": 1, "cw_steps": 1},
        attacks={"cw_search_steps": 1, "bim_steps": 1},
    )
    models = zoo.train_or_load("fashion_mnist", profile, workdir=tmp_path)
    assert models.classifier.arch == "resnet50" and len(models.defense.restorer.body) == 16 + 1
    table = paper_protocol_table(models.classifier, models.defense, models.test, profile, tmp_path)
    assert len(table) == 10 and table.n.eq(4).all() and table.model.eq("ResNet-50").all()
    transfer = transfer_table(models, profile, tmp_path)
    assert list(transfer.arch.unique()) == ["resnet50", "googlenet", "resnet101"]


class _Probe(torch.nn.Module):
    """A linear classifier that records, at each forward, whether TF32 or autocast was on."""

    def __init__(self):
        super().__init__()
        self.fc, self.seen = torch.nn.Linear(784, 10), []

    def forward(self, x):
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.is_autocast_enabled("cpu")))
        return self.fc(x.flatten(1))


def test_attacks_and_scoring_run_in_full_float32_inside_an_autocast_region(lenet, mnist_test):
    from reconstruction_defense.attacks.registry import frozen
    from reconstruction_defense.evaluation.scoring import predict

    x, y = mnist_test.images[:64], mnist_test.labels[:64]
    plain = run_attack("fgsm", lenet, x, y, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = run_attack("fgsm", lenet, x, y, 0.1)
        with frozen(lenet):  # planted: the attack without run_attack's guard takes bf16 gradients
            unguarded = ATTACKS["fgsm"].fn(lenet, x, y, 0.1, AttackParams())
        probe = _Probe()
        run_attack("bim", probe, x, y, 0.1)
        predict(probe, x)
    assert torch.equal(plain, inside)
    assert not torch.equal(plain, unguarded)
    assert probe.seen and set(probe.seen) == {(False, False)}
    assert torch.backends.cudnn.allow_tf32  # the default is back afterwards
