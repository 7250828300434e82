"""Pixel-depth reduction to k levels (Zhang et al., Section "Pixel depth reduce")."""

from __future__ import annotations

import torch
from torch import nn


def check_levels(k: int) -> int:
    """Return ``k`` if it is an integer >= 2, else raise a clear error."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(
            f"k (number of pixel levels) must be an integer >= 2, got {k!r}; "
            "k=2 binarizes (the paper's MNIST setting), k=4 is its Fashion-MNIST one"
        )
    return k


def check_unit_range(x: torch.Tensor) -> None:
    """Raise one clear error if ``x`` holds NaN or values outside [0, 1]: rounding would map them
    silently to a level (NaN to 0, so to class 0 after the classifier)."""
    if bool(torch.isnan(x).any() | (x < 0).any() | (x > 1).any()):
        raise ValueError(
            f"the quantizer takes images in [0, 1] without NaN; got min {x.nan_to_num(0).min():.3g}, "
            f"max {x.nan_to_num(0).max():.3g}, {int(torch.isnan(x).sum())} NaN: "
            "pass unnormalized images (normalization belongs inside the classifier)"
        )


def quantize(x: torch.Tensor, k: int) -> torch.Tensor:
    """q(x) = round(x (k - 1)) / (k - 1): each pixel snapped to the nearest of k levels in [0, 1]."""
    check_levels(k)
    check_unit_range(x)
    return torch.round(x * (k - 1)) / (k - 1)


def near_threshold_share(x: torch.Tensor, k: int, eps: float) -> float:
    """The share of pixels an L-inf perturbation of ``eps`` can move to another of the k levels
    of :func:`quantize`: those within ``eps`` of a rounding threshold (i + 1/2) / (k - 1). These
    are the only pixels an attack on the quantized image controls."""
    check_levels(k)
    thresholds = (torch.arange(k - 1, dtype=x.dtype) + 0.5) / (k - 1)
    return float(((x.unsqueeze(-1) - thresholds).abs().min(-1).values < eps).float().mean())


class _StraightThrough(torch.autograd.Function):
    """Forward: quantize; backward: identity (BPDA, Athalye et al. 2018)."""

    @staticmethod
    def forward(ctx, x, k):
        return quantize(x, k)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Quantizer(nn.Module):
    """Batch-wise k-level quantizer for any channel count.

    With ``straight_through=True`` its gradient is the identity, so that attacks which know the
    defense can differentiate through it (BPDA); otherwise the gradient is zero almost everywhere,
    as for the true rounding function.
    """

    def __init__(self, k: int, straight_through: bool = False):
        super().__init__()
        self.k = check_levels(k)
        self.straight_through = straight_through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.straight_through:
            return _StraightThrough.apply(x, self.k)
        return quantize(x, self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}, straight_through={self.straight_through}"
