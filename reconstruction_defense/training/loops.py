"""Training loops: classifiers (cross-entropy), the restorer (MSE, eq. 4 of the paper) and
adversarial training. Seeded, deterministic on CPU, resumable from the last completed epoch."""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..attacks.registry import attack_in_step
from ..config import distributed
from ..config.attack_params import AttackParams
from ..config.device import model_device, on_device_of
from ..config.progress import bar as progress_bar
from ..data import checkpoints
from ..data.datasets import ImageSet
from ..method.quantize import quantize
from .recipe import Augment, make_optimizer, shifts_and_flips

EpochFn = Callable[[nn.Module, torch.optim.Optimizer, int], dict[str, float]]
TRAINING = contextvars.ContextVar("training", default="training")  # what the epoch bars name


LOG_EVERY = 25  # steps between progress-bar loss updates off the CPU: each waits for the device


def batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device | str = "cpu") -> list[Tensor]:
    """Shuffled index batches for one epoch on ``device``; the order depends only on (seed, epoch),
    drawn on the CPU whatever the device."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return list(torch.randperm(n, generator=gen, device="cpu").to(device).split(batch_size))


def vector_flags() -> list[str]:
    """The CPU's vector instruction sets that torch's kernels choose between (Linux /proc/cpuinfo)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    except (OSError, IndexError):
        return []
    return sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile"})


def machine() -> dict[str, Any]:
    """What float rounding depends on besides config and seed: the same config retrained with
    other kernels or thread counts gives other weights (README, "Reproducible")."""
    return {
        "torch": torch.__version__,
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": vector_flags(),
        "threads": torch.get_num_threads(),
        "ranks": distributed.rank_and_world()[1],
    }


def fit(
    model: nn.Module,
    epoch_fn: EpochFn,
    epochs: int,
    lr: float,
    config: dict[str, Any],
    stem: Path | None = None,
    label: str = "training",
    optimizer: str = "adam",
    weight_decay: float = 0.0,
) -> list[dict[str, float]]:
    """Run ``epochs`` epochs of ``epoch_fn`` with ``optimizer`` (:func:`make_optimizer`),
    checkpointing after each one.

    When ``stem`` holds a checkpoint of the same ``config``, training resumes after its last
    completed epoch (weights and optimizer state restored), so a finished run only loads.
    ``label`` names the model in the progress bars and in the line saying it was loaded.
    """
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    history: list[dict[str, float]] = []
    if stem is not None and checkpoints.exists(stem):
        tensors, meta = checkpoints.load(stem, config)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        checkpoints.restore_optimizer(opt, tensors, meta["optimizer"])
        history = meta["history"]
        if len(history) > epochs:
            raise checkpoints.CheckpointError(
                f"{stem} holds {len(history)} epochs but {epochs} were asked for; delete it to retrain"
            )
    if stem is not None and len(history) == epochs and distributed.is_writer():
        tqdm.write(f"{label}: loaded from {stem.name} ({epochs} epochs, cached)")
    token = TRAINING.set(label)
    try:
        for epoch in range(len(history), epochs):
            model.train()
            start = time.perf_counter()
            metrics = epoch_fn(model, opt, epoch) | {"seconds": round(time.perf_counter() - start, 1)}
            history.append(dict(sorted(metrics.items())))  # as a reloaded sidecar has it
            if stem is not None and distributed.is_writer():
                opt_tensors, opt_rest = checkpoints.optimizer_tensors(opt)
                tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | opt_tensors
                checkpoints.save(
                    stem,
                    tensors,
                    {
                        "config": config,
                        "epoch": epoch + 1,
                        "history": history,
                        "optimizer": opt_rest,
                        "trained_with": machine(),
                    },
                )
            distributed.barrier()
    finally:
        TRAINING.reset(token)
    distributed.sync_from_rank0(model)
    model.eval()
    return history


def descend(opt: torch.optim.Optimizer, loss: Tensor) -> None:
    """One optimizer step on ``loss`` (without reading it back: on a GPU that would wait for the step)."""
    opt.zero_grad()
    loss.backward()
    opt.step()


LossFn = Callable[..., tuple[Tensor, Tensor | int]]  # (model, *batch) -> (mean loss, # correct)


class Objective(nn.Module):
    """The model being trained and its loss as one module, so that DistributedDataParallel, which
    synchronises the gradients of what runs through ``forward``, can wrap any training loss."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, *batch: Tensor) -> tuple[Tensor, Tensor | int]:
        return self.loss_fn(self.model, *batch)


@contextlib.contextmanager
def fast_training(model: nn.Module) -> Iterator[bool]:
    """On CUDA, for training only: channels-last weights, cuDNN autotuning, and (yielded) whether
    to autocast to bfloat16. Attacks inside a training step stay in float32 (:func:`attack_in_step`).
    Elsewhere nothing changes and False is yielded."""
    device = model_device(model)
    if device.type != "cuda":
        yield False
        return
    model.to(memory_format=torch.channels_last)
    benchmark, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, True
    try:
        yield torch.cuda.is_bf16_supported()
    finally:
        torch.backends.cudnn.benchmark = benchmark


def _as_weights(model: nn.Module, *tensors: Tensor) -> tuple[Tensor, ...]:
    """A batch laid out as the weights are: images channels-last on CUDA (:func:`fast_training`)."""
    if model_device(model).type != "cuda":
        return tensors
    return tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in tensors)


def run_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    epoch: int,
    data: ImageSet,
    batch_size: int,
    seed: int,
    loss_fn: LossFn,
    with_labels: bool = True,
    augment: Augment | None = None,
    lr_at: Callable[[float], float] | None = None,
) -> tuple[float, float]:
    """One epoch of ``loss_fn`` steps over the shuffled global batches of ``data``
    (:func:`batches`); returns (mean loss, share of correct predictions) over the epoch.
    ``augment(images, indices)`` transforms each batch's images (keyed by their indices in
    ``data``); ``lr_at(epoch + share of the epoch done)`` sets the learning rate before each step.

    Under ``torchrun`` each rank takes its slice of every global batch, its loss weighted by
    :func:`~reconstruction_defense.config.distributed.share_weight`, and DistributedDataParallel
    averages the gradients: the step of one process on the whole batch, same learning rate.
    A final batch with fewer images than ranks is skipped by every rank (never in one process).

    The images stay on the model's device for the epoch and batches are drawn there, so a GPU
    step waits for nothing from the host; off the CPU the loss is read back every :data:`LOG_EVERY`
    steps for the progress bar and once at the end (in float64, as a Python sum of ``loss.item()`` would be).
    """
    world = distributed.rank_and_world()[1]
    objective = distributed.wrap_for_training(Objective(model, loss_fn))
    device = model_device(model)
    images, labels = on_device_of(model, data.images, data.labels)
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count, log_every = 0, 1 if device.type == "cpu" else LOG_EVERY
    with fast_training(model) as bf16:
        order = batches(len(data), batch_size, seed, epoch, device)
        bar = progress_bar(order, desc=f"{TRAINING.get()}, epoch {epoch + 1}", leave=False, mininterval=1.0)
        for step, idx in enumerate(bar):
            if len(idx) < world:
                continue
            if lr_at is not None:
                for group in opt.param_groups:
                    group["lr"] = lr_at(epoch + step / len(order))
            local = distributed.shard_of_batch(idx)
            x = images[local] if augment is None else augment(images[local], local)
            batch = _as_weights(model, x, *([labels[local]] if with_labels else []))
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                loss, hits = objective(*batch)
            descend(opt, loss * distributed.share_weight(len(local), len(idx)))
            total += loss.detach().double() * len(local)
            correct += hits
            count += len(local)
            if step % log_every == 0 or step == len(order) - 1:
                bar.set_postfix(loss=f"{total.item() / count:.4f}", refresh=False)
    summed, hit, count = distributed.all_sum(total.item(), correct.item(), count)
    return summed / count, hit / count


def classifier_epoch(
    data: ImageSet,
    batch_size: int,
    seed: int,
    attack: tuple[str, float] | None = None,
    params: AttackParams = AttackParams(),
    *,
    label_smoothing: float = 0.0,
    max_shift: int = 0,
    flip: bool = False,
    lr_at: Callable[[float], float] | None = None,
) -> EpochFn:
    """One epoch of cross-entropy training (with ``label_smoothing``, Szegedy et al. 2016); with
    ``attack`` = (name, eps), half of each batch is replaced by adversarial examples made on the
    fly (adversarial training, Goodfellow et al. 2015). ``max_shift``/``flip`` augment the images
    (:func:`~reconstruction_defense.training.recipe.shifts_and_flips`); ``lr_at`` schedules the
    learning rate (:func:`run_epoch`)."""

    def loss_fn(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if attack is not None:
            half = len(y) // 2
            x = torch.cat([attack_in_step(attack[0], model, x[:half], y[:half], attack[1], params), x[half:]])
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing), (logits.argmax(1) == y).sum()

    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        device = model_device(model)
        augment = shifts_and_flips(len(data), seed, epoch, max_shift, flip, device) if max_shift or flip else None
        loss, accuracy = run_epoch(model, opt, epoch, data, batch_size, seed, loss_fn, augment=augment, lr_at=lr_at)
        return {"loss": loss, "train_acc": accuracy}

    return epoch_fn


def restorer_loss(
    restorer: nn.Module, classifier: nn.Module, clean: Tensor, labels: Tensor, k: int, eps: float, adv_fraction: float
) -> Tensor:
    """The paper's restorer objective on one batch (Section "Image reconstruction", eq. 4): the
    first ``adv_fraction`` of ``clean`` replaced by FGSM examples at ``eps`` against the frozen
    ``classifier``, every image quantized to ``k`` levels, restored, and compared with the clean
    image by MSE."""
    n_adv = int(round(adv_fraction * len(clean)))
    x = clean.clone()
    if n_adv:
        x[:n_adv] = attack_in_step("fgsm", classifier, clean[:n_adv], labels[:n_adv], eps)
    return F.mse_loss(restorer(quantize(x, k)), clean)


def restorer_epoch(
    data: ImageSet, classifier: nn.Module, k: int, eps: float, adv_fraction: float, batch_size: int, seed: int
) -> EpochFn:
    """One epoch of :func:`restorer_loss` steps over shuffled batches of ``data``."""

    def loss_fn(model: nn.Module, clean: Tensor, labels: Tensor) -> tuple[Tensor, int]:
        return restorer_loss(model, classifier, clean, labels, k, eps, adv_fraction), 0

    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        return {"mse": run_epoch(model, opt, epoch, data, batch_size, seed, loss_fn)[0]}

    return epoch_fn


def comdefend_epoch(data: ImageSet, code_weight: float, batch_size: int, seed: int) -> EpochFn:
    """One epoch of ComDefend training on clean images (Jia et al. 2019, eq. 3): MSE between the
    reconstruction and the input, plus ``code_weight`` x the mean squared linear code."""

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, int]:
        code = model.encode(x)
        return F.mse_loss(model.rec(model.binarize(code)), x) + code_weight * code.pow(2).mean(), 0

    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        return {"loss": run_epoch(model, opt, epoch, data, batch_size, seed, loss_fn, with_labels=False)[0]}

    return epoch_fn


def pixelcnn_epoch(data: ImageSet, batch_size: int, seed: int) -> EpochFn:
    """One epoch of maximum-likelihood PixelCNN training on clean images (van den Oord et al.
    2016; PixelDefend's density model): cross-entropy of each pixel's 256-way softmax. The
    logged ``bits_per_dim`` is that loss in bits."""

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, int]:
        return model.nll(x), 0

    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        nats = run_epoch(model, opt, epoch, data, batch_size, seed, loss_fn, with_labels=False)[0]
        return {"loss": nats, "bits_per_dim": nats / math.log(2)}

    return epoch_fn
