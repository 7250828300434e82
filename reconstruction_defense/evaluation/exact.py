"""Exact robust accuracy of a quantizing defense: ground truth for every attack.

``after(q_k(x'))`` depends on ``x'`` only through the k-level image ``q_k(x')``. Within the
L-inf ball of radius eps (and [0, 1]), a pixel can land only on the levels between the rounding of
its lowest and its highest reachable value (:func:`~reconstruction_defense.attacks.quantizer.
reachable_levels`: the quantizer itself applied to the ball's edges, decided in float64, so its
ties are ours),
and every pixel chooses independently. So an image is robust exactly when ``after`` classifies
every one of the finitely many reachable k-level images right; evaluating them all is not a
bound but the robust accuracy itself. Images with more reachable k-level images than a budget
are *undecided* unless a misclassified one turns up within the budget (a witness, which is exact).

The search order comes from the gradient of the margin after the quantizer: pattern 0 puts every
free pixel on the level the gradient favours, and the pixels the gradient ranks least important
change first. Order only decides how soon a witness appears; every pattern is still evaluated
before an image is called robust, so nothing is pruned and nothing is guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn

from ..attacks.quantizer import _margin, preimage, reachable_levels
from ..config.device import full_float32, model_device
from ..config.progress import bar
from ..method.quantize import check_levels, quantize

STATUSES = ("robust", "broken", "undecided")
VERSION = 2  # part of cached verdicts' keys: raise it when the search changes what it returns


def level_counts(x: Tensor, k: int, eps: float) -> Tensor:
    """Per pixel, how many of the k levels the quantizer can output within eps of ``x``."""
    low, high = reachable_levels(x, k, eps)
    return torch.round((high - low) * (k - 1)).long() + 1


def reachable_images(x: Tensor, k: int, eps: float) -> Tensor:
    """Per image, the number of distinct k-level images reachable within eps (float64: it can
    exceed any integer type; exact below 2**53)."""
    return level_counts(x, k, eps).flatten(1).double().prod(1)


@dataclass(frozen=True)
class SearchSpace:
    """One image's reachable k-level images, numbered 0 .. size - 1 in search order."""

    base: Tensor  # the k-level image with every free pixel at its favoured level
    pixels: Tensor  # flat indices of the free pixels, least important first
    start: Tensor  # each free pixel's favoured level, as its index 0 .. k - 1
    step: Tensor  # +1 or -1: the direction away from the favoured level
    radix: Tensor  # each free pixel's number of levels
    size: float
    k: int

    def patterns(self, first: int, stop: int) -> Tensor:
        """The k-level images numbered ``first`` .. ``stop - 1`` (mixed radix: digit i chooses
        free pixel i's level, digit 0 the favoured one)."""
        index = torch.arange(first, stop, device=self.base.device)
        # place values in float64 (an int64 product overflows); exact while below 2**53, and a
        # place above every index we enumerate leaves its digit 0 whatever its rounding
        place = torch.cumprod(torch.cat([self.radix.new_ones(1), self.radix[:-1]]).double(), 0)
        place = place.clamp_max(2.0**62).long()
        digits = (index[:, None] // place[None]) % self.radix[None]
        flat = self.base.flatten().repeat(len(index), 1)
        # level values from integer indices, divided as the quantizer divides: exactly its outputs
        flat[:, self.pixels] = (self.start + digits * self.step).to(flat.dtype) / (self.k - 1)
        return flat.view(len(index), *self.base.shape)


def search_space(after: nn.Module, x: Tensor, y: Tensor, k: int, eps: float) -> SearchSpace:
    """The reachable k-level images of one image ``x`` (C, H, W) with label ``y``, ordered by the
    gradient of the margin of ``after`` at q_k(x) (see the module docstring)."""
    low, high = (t.flatten() for t in reachable_levels(x[None], k, eps))
    q = quantize(x[None], k).requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_margin(after(q), y[None]).sum(), q)
    grad = grad.flatten()
    free = (high > low).nonzero().squeeze(1)
    gain = grad[free].abs() * (high[free] - low[free])
    free = free[gain.argsort(stable=True)]
    to_high = grad[free] < 0  # raising the pixel lowers the margin
    low_index, high_index = (torch.round(v[free] * (k - 1)).long() for v in (low, high))
    start = torch.where(to_high, high_index, low_index)
    base = quantize(x, k).flatten().clone()
    base[free] = torch.where(to_high, high[free], low[free])
    radix = high_index - low_index + 1
    step = torch.where(to_high, -1, 1)
    size = math.prod(radix.tolist())
    return SearchSpace(base.view_as(x), free, start, step, radix, float(size), k)


@dataclass
class ExactVerdicts:
    """Per image: ``status`` (robust / broken / undecided), the number of reachable k-level
    images, how many were evaluated, and for broken images a witness: an input within eps of the
    clean one that the deployed pipeline misclassifies (the clean image where there is none)."""

    status: list[str]
    reachable: Tensor
    evaluated: Tensor
    witnesses: Tensor

    def counts(self) -> dict[str, int]:
        """How many images have each status."""
        return {s: self.status.count(s) for s in STATUSES}

    def robust(self) -> Tensor:
        """Per image, whether it is proven robust."""
        return torch.tensor([s == "robust" for s in self.status], device="cpu")

    def tensors(self) -> dict[str, Tensor]:
        """Everything as CPU tensors, the status as int8 indices into ``STATUSES`` (to store)."""
        status = torch.tensor([STATUSES.index(s) for s in self.status], dtype=torch.int8, device="cpu")
        return {
            "status": status,
            "reachable": self.reachable,
            "evaluated": self.evaluated,
            "witnesses": self.witnesses.contiguous(),
        }

    @classmethod
    def from_tensors(cls, stored: dict[str, Tensor]) -> ExactVerdicts:
        """The verdicts :meth:`tensors` stored."""
        return cls(
            [STATUSES[i] for i in stored["status"].tolist()],
            stored["reachable"],
            stored["evaluated"],
            stored["witnesses"],
        )

    def frame(self) -> pd.DataFrame:
        """One row per image."""
        return pd.DataFrame(
            {"status": self.status, "reachable": self.reachable.numpy(), "evaluated": self.evaluated.numpy()}
        )


@torch.inference_mode()
def _first_error(
    after: nn.Module, space: SearchSpace, y: Tensor, budget: float, batch_size: int
) -> tuple[Tensor | None, int]:
    """The first misclassified pattern within the budget (or None) and how many were evaluated."""
    total, done = int(min(space.size, budget)), 0
    while done < total:
        stop = min(done + batch_size, total)
        batch = space.patterns(done, stop)
        wrong = (after(batch).argmax(1) != y).nonzero()
        if len(wrong):
            return batch[wrong[0, 0]], done + int(wrong[0, 0]) + 1
        done = stop
    return None, done


def exact_robustness(
    after: nn.Module,
    x: Tensor,
    y: Tensor,
    k: int,
    eps: float,
    budget: float = 2**16,
    probe: float | None = None,
    batch_size: int = 128,
    progress: bool = True,
) -> ExactVerdicts:
    """Exact robust accuracy of ``after(q_k(.))`` at L-inf radius ``eps``: per image
    with at most ``budget`` reachable k-level images, every one is evaluated (with early exit on
    the first misclassified one); an image with more can end only broken or undecided, so it gets
    the first ``probe`` (default: ``budget``) in search order, looking for a witness. ``after`` is
    what follows the quantizer (restorer then classifier); it runs on its own device, in full
    float32."""
    check_levels(k)
    after.eval()
    device = model_device(after)
    status, evaluated, witnesses = [], [], x.clone()
    with full_float32(device):
        for i in bar(range(len(x)), desc=f"exact search, k {k}, eps {eps:g}", shown=progress):
            xi, yi = x[i].to(device), y[i].to(device)
            space = search_space(after, xi, yi, k, eps)
            limit = space.size if space.size <= budget else budget if probe is None else probe
            found, n = _first_error(after, space, yi, limit, batch_size)
            if found is not None:
                witnesses[i] = preimage(found, xi, eps).cpu()
            status.append("broken" if found is not None else "robust" if space.size <= budget else "undecided")
            evaluated.append(n)
    return ExactVerdicts(status, reachable_images(x, k, eps), torch.tensor(evaluated, device="cpu"), witnesses)
