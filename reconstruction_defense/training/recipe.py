"""The fast training recipe of the faithful stand-ins: SGD with Nesterov momentum on a
one-cycle learning rate, and augmentation by translations and flips keyed by image and epoch.
Adam at a constant rate stays the default (:class:`~reconstruction_defense.config.profiles.ClassifierConfig`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"adam"`` (Kingma & Ba; the paper's and our default) or ``"sgd"`` (Nesterov momentum 0.9,
    the fast-training recipe; its learning rate is set per step by :func:`one_cycle`)."""
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, sgd")


def one_cycle(peak: float, progress: float, warmup: float = 0.2) -> float:
    """The one-cycle learning rate (Smith & Topin 2019), triangular: from peak/25 up to ``peak`` over
    the first ``warmup`` of training, then linearly down to peak/2500 at the end; ``progress`` in [0, 1]."""
    if progress < warmup:
        return peak * (0.04 + 0.96 * progress / warmup)
    return peak * max(4e-4, (1 - progress) / (1 - warmup))


AUGMENTATION = {"mnist": (2, False), "fashion_mnist": (2, True), "cifar10": (4, True)}


def augmentation_for(dataset: str, size: int) -> tuple[int, bool]:
    """(max_shift, flip) of the fast recipe on ``dataset``: shifts of 2 pixels on the 28-pixel
    sets and 4 on CIFAR-10's 32 (its usual crop padding), flips except on digits (a mirrored digit
    is another symbol); on image folders of one's own, shifts of an eighth of the side, no flips."""
    return AUGMENTATION.get(dataset, (size // 8, False))


Augment = Callable[[Tensor, Tensor], Tensor]  # (images, their indices in the training set) -> images


def shifts_and_flips(
    n: int, seed: int, epoch: int, max_shift: int, flip: bool, device: torch.device | str = "cpu"
) -> Augment:
    """Data augmentation for the fast recipe: translations by up to ``max_shift`` pixels (zero
    padding) and, with ``flip``, horizontal flips. Drawn once per epoch for all ``n`` training
    images from (seed, epoch), so an image gets the same transform whichever batch, rank, device
    or resumed run it lands in. The draws live on ``device``, where the images and their indices
    must be; each batch is cropped by one gather, with no host synchronisation."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch + 50_000_017)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen, device="cpu").to(device)
    flips = ((torch.rand(n, generator=gen, device="cpu") < 0.5) & flip).to(device)

    def augment(images: Tensor, indices: Tensor) -> Tensor:
        batch, channels, height, width = images.shape
        padded = F.pad(images, [max_shift] * 4).flatten(2)  # (B, C, padded pixels)
        dy, dx = offsets[indices].unbind(1)
        rows = dy[:, None, None] + torch.arange(height, device=images.device)[:, None]  # (B, H, 1)
        cols = dx[:, None, None] + torch.arange(width, device=images.device)  # (B, 1, W)
        pixels = (rows * (width + 2 * max_shift) + cols).view(batch, 1, -1).expand(-1, channels, -1)
        out = padded.gather(2, pixels).view_as(images)  # standard strides, as the convolutions expect
        return torch.where(flips[indices].view(-1, 1, 1, 1), out.flip(-1), out)

    return augment
