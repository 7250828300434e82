"""Training loops: classifiers (cross-entropy), the restorer (MSE, eq. 4 of the paper) and
adversarial training. Seeded, deterministic on CPU, resumable from the last completed epoch."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import checkpoints
from .attacks import AttackParams, run_attack
from .data import ImageSet
from .device import on_device_of
from .quantize import quantize

EpochFn = Callable[[nn.Module, torch.optim.Optimizer, int], dict[str, float]]


def batches(n: int, batch_size: int, seed: int, epoch: int) -> list[Tensor]:
    """Shuffled index batches for one epoch; the order depends only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return list(torch.randperm(n, generator=gen, device="cpu").split(batch_size))  # data stay on the CPU


def machine() -> dict[str, Any]:
    """What float rounding depends on besides config and seed: the same config retrained with
    other kernels or thread counts gives other weights (README, "Reproducible")."""
    return {"torch": torch.__version__, "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def fit(model: nn.Module, epoch_fn: EpochFn, epochs: int, lr: float, config: dict[str, Any],
        stem: Path | None = None) -> list[dict[str, float]]:
    """Run ``epochs`` epochs of ``epoch_fn`` with Adam, checkpointing after each one.

    When ``stem`` holds a checkpoint of the same ``config``, training resumes after its last
    completed epoch (weights and optimizer state restored), so a finished run only loads.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    if stem is not None and checkpoints.exists(stem):
        tensors, meta = checkpoints.load(stem, config)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        checkpoints.restore_optimizer(opt, tensors, meta["optimizer"])
        history = meta["history"]
        if len(history) > epochs:
            raise checkpoints.CheckpointError(
                f"{stem} holds {len(history)} epochs but {epochs} were asked for; delete it to retrain")
    for epoch in range(len(history), epochs):
        model.train()
        history.append(dict(sorted(epoch_fn(model, opt, epoch).items())))  # as a reloaded sidecar has it
        if stem is not None:
            opt_tensors, opt_rest = checkpoints.optimizer_tensors(opt)
            tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | opt_tensors
            checkpoints.save(stem, tensors, {"config": config, "epoch": epoch + 1, "history": history,
                                             "optimizer": opt_rest, "trained_with": machine()})
    model.eval()
    return history


def descend(opt: torch.optim.Optimizer, loss: Tensor) -> float:
    """One optimizer step on ``loss``; returns its value."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def _loop(desc: str, index_batches: list[Tensor], step: Callable[[Tensor], tuple[float, int]]
          ) -> float:
    total, count = 0.0, 0
    bar = tqdm(index_batches, desc=desc, leave=False, mininterval=1.0)
    for idx in bar:
        loss, n = step(idx)
        total, count = total + loss * n, count + n
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    return total / count


def classifier_epoch(data: ImageSet, batch_size: int, seed: int,
                     attack: tuple[str, float] | None = None, params: AttackParams = AttackParams()
                     ) -> EpochFn:
    """One epoch of cross-entropy training; with ``attack`` = (name, eps), half of each batch is
    replaced by adversarial examples made on the fly (adversarial training, Goodfellow et al. 2015)."""
    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        correct = 0

        def step(idx: Tensor) -> tuple[float, int]:
            nonlocal correct
            x, y = on_device_of(model, data.images[idx], data.labels[idx])
            if attack is not None:
                half = len(idx) // 2
                adv = run_attack(attack[0], model, x[:half], y[:half], attack[1], params)
                x = torch.cat([adv.to(x.device), x[half:]])
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            descend(opt, loss)
            correct += int((logits.argmax(1) == y).sum())
            return loss.item(), len(idx)
        loss = _loop(f"epoch {epoch + 1}", batches(len(data), batch_size, seed, epoch), step)
        return {"loss": loss, "train_acc": correct / len(data)}
    return epoch_fn


def restorer_loss(restorer: nn.Module, classifier: nn.Module, clean: Tensor, labels: Tensor, k: int,
                  eps: float, adv_fraction: float) -> Tensor:
    """The paper's restorer objective on one batch (Section "Image reconstruction", eq. 4): the
    first ``adv_fraction`` of ``clean`` replaced by FGSM examples at ``eps`` against the frozen
    ``classifier``, every image quantized to ``k`` levels, restored, and compared with the clean
    image by MSE."""
    n_adv = int(round(adv_fraction * len(clean)))
    x = clean.clone()
    if n_adv:
        x[:n_adv] = run_attack("fgsm", classifier, clean[:n_adv], labels[:n_adv], eps)
    return F.mse_loss(restorer(quantize(x, k)), clean)


def restorer_epoch(data: ImageSet, classifier: nn.Module, k: int, eps: float, adv_fraction: float,
                   batch_size: int, seed: int) -> EpochFn:
    """One epoch of :func:`restorer_loss` steps over shuffled batches of ``data``."""
    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        def step(idx: Tensor) -> tuple[float, int]:
            clean, labels = on_device_of(model, data.images[idx], data.labels[idx])
            loss = restorer_loss(model, classifier, clean, labels, k, eps, adv_fraction)
            return descend(opt, loss), len(idx)
        return {"mse": _loop(f"epoch {epoch + 1}", batches(len(data), batch_size, seed, epoch), step)}
    return epoch_fn


def comdefend_epoch(data: ImageSet, code_weight: float, batch_size: int, seed: int) -> EpochFn:
    """One epoch of ComDefend training on clean images (Jia et al. 2019, eq. 3): MSE between the
    reconstruction and the input, plus ``code_weight`` x the mean squared linear code."""
    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        def step(idx: Tensor) -> tuple[float, int]:
            (x,) = on_device_of(model, data.images[idx])
            code = model.encode(x)
            loss = F.mse_loss(model.rec(model.binarize(code)), x) + code_weight * code.pow(2).mean()
            return descend(opt, loss), len(idx)
        return {"loss": _loop(f"epoch {epoch + 1}", batches(len(data), batch_size, seed, epoch), step)}
    return epoch_fn


def pixelcnn_epoch(data: ImageSet, batch_size: int, seed: int) -> EpochFn:
    """One epoch of maximum-likelihood PixelCNN training on clean images (van den Oord et al.
    2016; PixelDefend's density model): cross-entropy of each pixel's 256-way softmax. The
    logged ``bits_per_dim`` is that loss in bits."""
    def epoch_fn(model: nn.Module, opt: torch.optim.Optimizer, epoch: int) -> dict[str, float]:
        def step(idx: Tensor) -> tuple[float, int]:
            loss = model.nll(*on_device_of(model, data.images[idx]))
            return descend(opt, loss), len(idx)
        nats = _loop(f"epoch {epoch + 1}", batches(len(data), batch_size, seed, epoch), step)
        return {"loss": nats, "bits_per_dim": nats / math.log(2)}
    return epoch_fn
