"""The device path, tested on a machine without a GPU: the device is resolved (and a missing CUDA
refused) before any data is loaded; every tensor the package creates inside an attack or a
training step names its device; the paper profile's own architectures run end to end."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.overrides import TorchFunctionMode

import reconstruction_defense
from reconstruction_defense.attacks.registry import ATTACKS, AttackParams, run_attack
from reconstruction_defense.cli import run
from reconstruction_defense.config.device import DeviceError, resolve_device
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.evaluation.exact import exact_robustness
from reconstruction_defense.evaluation.scoring import evaluate
from reconstruction_defense.experiments import transfer
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
        "classifier": classifier_epoch(tiny, 8, 0, ("fgsm", 0.1), max_shift=1, flip=True),
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


TINY_PAPER = {
    "data.n_train": 32,
    "data.n_test": 4,
    "classifier.epochs": 1,
    "classifier.batch_size": 32,
    "restorer.epochs": 1,
    "restorer.n_train": 32,
    "restorer.batch_size": 32,
    "sweeps.deepfool_steps": 1,
    "sweeps.cw_steps": 1,
    "attacks.cw_search_steps": 1,
    "attacks.bim_steps": 1,
}


def test_the_paper_profiles_architectures_run_end_to_end_at_tiny_size(tmp_path, monkeypatch, benchmark_script):
    """ResNet-50, the 16 x 64 restorer, then GoogLeNet and ResNet-101 behind it (Table 2's
    networks): the code path a GPU user runs, one step on 32 Fashion-MNIST images, 4 test
    images, one-step attacks (at 28 x 28 without the ImageNet stem these networks are slow on a CPU)."""
    profile = get_profile("paper", device="cpu", **TINY_PAPER)
    models = zoo.train_or_load("fashion_mnist", profile, workdir=tmp_path)
    assert models.classifier.arch == "resnet50" and len(models.defense.restorer.body) == 16 + 1
    table = paper_protocol_table(models.classifier, models.defense, models.test, profile, tmp_path)
    assert len(table) == 10 and table.n.eq(4).all() and table.model.eq("ResNet-50").all()
    # benchmarks/paper_gpu.py, the GPU's one command, on the same models (loaded, not retrained)
    tiny, out = [f"{k}={v}" for k, v in TINY_PAPER.items()], tmp_path / "paper_gpu"
    scored = []  # (test-image indices, attacks) of each evaluate call
    monkeypatch.setattr(transfer, "evaluate", lambda c, images, attacks, *a, **k: scored.append(
        (images.indices.tolist(), [name for name, _ in attacks])) or evaluate(c, images, attacks, *a, **k))  # fmt: skip
    benchmark_script("paper_gpu").main(["--dataset", "fashion_mnist", "--device", "cpu", "--workdir", str(tmp_path),
                                      "--out", str(out), "--l2-n-test", "3", "--set", *tiny])  # fmt: skip
    everyone, sample = models.test.indices.tolist(), models.test.sample(3).indices.tolist()
    assert sample != everyone[:3]  # the sample is not merely the first images
    assert scored == [(everyone, ["clean", "fgsm", "bim"]), (sample, ["deepfool", "cw"])]
    timing, recorded = pd.read_csv(out / "timing_fashion_mnist.csv"), pd.read_csv(out / "table_fashion_mnist.csv")
    assert timing[["train_images", "test_images", "l2_test_images"]].values.tolist() == [[32, 4, 3]]
    assert timing.overrides.item() == " ".join(tiny) and timing.device.item() == "cpu"
    assert recorded.n.tolist() == [4] * 6 + [3] * 4 and recorded.torch.eq(torch.__version__).all()
    behind = transfer_table(models, profile, tmp_path)
    assert list(behind.arch.unique()) == ["resnet50", "googlenet", "resnet101"]


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


def _batches_seen(model, data, device, augment_options):
    """The (indices, images, labels) each step of one classifier epoch fed its loss, on ``device``."""
    from reconstruction_defense.training import loops

    seen = []

    def record(model, x, y):
        seen.append((x.detach().cpu(), y.cpu(), x.stride()))
        logits = model(x)
        return torch.nn.functional.cross_entropy(logits, y), (logits.argmax(1) == y).sum()

    epoch_fn = loops.classifier_epoch(data, 24, 7, **augment_options)
    model = model.to(device)
    augment = shifts_and_flips_on(data, device, **augment_options)
    order = loops.batches(len(data), 24, 7, 0)
    with pytest.MonkeyPatch.context() as patch:  # the loss is the recorder; the rest is the real epoch
        patch.setattr(loops, "run_epoch", _with_loss(loops.run_epoch, record))
        epoch_fn(model, torch.optim.SGD(model.parameters(), lr=0.01), 0)
    return seen, order, augment


def shifts_and_flips_on(data, device, max_shift=0, flip=False):
    """The reference crop of the fast recipe, one image at a time with the documented draw:
    offsets then flips from the generator seeded with seed * 100_003 + epoch + 50_000_017."""
    gen = torch.Generator().manual_seed(7 * 100_003 + 0 + 50_000_017)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(data), 2), generator=gen, device="cpu")
    flips = (torch.rand(len(data), generator=gen, device="cpu") < 0.5) & flip

    def crop(i):
        padded = torch.nn.functional.pad(data.images[i], [max_shift] * 4)
        oy, ox = offsets[i].tolist()
        out = padded[:, oy : oy + data.images.shape[2], ox : ox + data.images.shape[3]]
        return out.flip(-1) if flips[i] else out

    return crop


def _with_loss(run_epoch, loss_fn):
    def patched(model, opt, epoch, data, batch_size, seed, _loss_fn, **options):
        return run_epoch(model, opt, epoch, data, batch_size, seed, loss_fn, **options)

    return patched


def _assert_batches_as_today(seen, order, crop, data):
    assert len(seen) == len(order)
    for (images, labels, strides), idx in zip(seen, order):
        assert torch.equal(labels, data.labels[idx])
        assert torch.equal(images, torch.stack([crop(int(i)) for i in idx]))
        assert strides == torch.empty_like(images, memory_format=torch.contiguous_format).stride()


@pytest.mark.parametrize("augment", [{}, {"max_shift": 2, "flip": True}])
def test_training_batches_on_the_device_are_the_seeded_ones_with_each_image_cropped_as_keyed(
    mnist_train, augment, monkeypatch
):
    """What the device-resident loop feeds each step equals today's loader: the images of
    ``batches(seed, epoch)`` in order, each cropped and flipped by its own draw, in standard
    strides (a crop with channels-last strides sends the CPU's convolutions down another path,
    and the shipped weights could not be retrained bit for bit)."""
    from reconstruction_defense.training import recipe

    data = mnist_train.head(100)
    model = build_classifier("lenet", data.info)
    seen, order, crop = _batches_seen(model, data, "cpu", augment)
    _assert_batches_as_today(seen, order, crop, data)
    if not augment:
        return

    def permuted_crop(n, seed, epoch, max_shift, flip, device="cpu"):  # planted: gathered, then permuted
        keyed = recipe.shifts_and_flips(n, seed, epoch, max_shift, flip, device)

        def augment_(images, indices):
            out = keyed(images, indices).permute(0, 2, 3, 1)  # (B, H, W, C), as an indexing gather gives it
            return torch.empty(out.shape, device=out.device).copy_(out).permute(0, 3, 1, 2)

        return augment_

    monkeypatch.setattr("reconstruction_defense.training.loops.shifts_and_flips", permuted_crop)
    seen, order, crop = _batches_seen(model, data, "cpu", augment)
    with pytest.raises(AssertionError):
        _assert_batches_as_today(seen, order, crop, data)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: compares its training batches with ours")
def test_training_batches_on_a_gpu_equal_those_on_the_cpu(mnist_train):
    data = mnist_train.head(100)
    augment = {"max_shift": 2, "flip": True}
    model = build_classifier("lenet", data.info)
    on_gpu, order, crop = _batches_seen(model, data, "cuda", augment)
    _assert_batches_as_today([(x, y, x.stride()) for x, y, _ in on_gpu], order, crop, data)


@pytest.mark.parametrize("name", ["fgsm", "bim", "deepfool", "cw"])
def test_an_attack_in_one_large_batch_gives_the_images_of_small_batches(lenet, mnist_test, name, monkeypatch):
    """A GPU attacks thousands of images per batch, a laptop a few dozen: the paper's four attacks
    treat each image on its own, so the batch size changes nothing beyond float rounding. (The
    random starts of PGD, APGD and Square are drawn per batch, so their images depend on it, as
    on the seed; the batch size is part of every adversarial set's cache key.)"""
    from reconstruction_defense.attacks import registry

    x, y = mnist_test.images[:48], mnist_test.labels[:48]
    params = AttackParams(bim_steps=5, cw_search_steps=2)
    strength = 0.1 if ATTACKS[name].strength == "eps" else 10

    def adv(batch_size):
        return run_attack(name, lenet, x, y, strength, replace(params, batch_size=batch_size))

    small, large = adv(8), adv(48)
    assert (small - large).abs().max() < 1e-4
    if name != "bim":
        return
    real = ATTACKS["bim"]

    def random_start(model, x, y, eps, p):  # planted: a random start drawn per batch, as PGD's is
        start = (x + torch.empty_like(x).uniform_(-eps / 2, eps / 2)).clamp(0, 1)
        return real.fn(model, start, y, eps, p)

    monkeypatch.setitem(registry.ATTACKS, "bim", replace(real, fn=random_start))
    assert (adv(8) - adv(48)).abs().max() > 1e-4


def test_an_attack_inside_a_training_step_equals_run_attack_and_restores_the_model(lenet, mnist_test):
    from reconstruction_defense.attacks.registry import attack_in_step, frozen

    x, y = mnist_test.images[:40], mnist_test.labels[:40]
    params = AttackParams(pgd_steps=3, batch_size=16)  # three seeded batches, PGD's random start in each
    lenet.train()
    try:
        for name in ("fgsm", "pgd"):
            in_step = attack_in_step(name, lenet, x, y, 0.1, params)
            assert torch.equal(in_step, run_attack(name, lenet, x, y, 0.1, params))
        assert lenet.training and all(p.requires_grad for p in lenet.parameters())
    finally:
        lenet.eval()
    torch.manual_seed(0)
    with frozen(lenet):  # planted: the step's images attacked in one call, as a training loop might
        one_call = ATTACKS["pgd"].fn(lenet, x, y, 0.1, params)
    assert not torch.equal(one_call, run_attack("pgd", lenet, x, y, 0.1, params))
