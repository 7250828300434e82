"""Feature Squeezing (Xu, Evans, Qi, NDSS 2018): bit-depth reduction and median smoothing, as a
preprocessor and as the detector that compares predictions before and after squeezing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config.device import on_device_of
from ..quantize import quantize


def check_window(window: int) -> int:
    """Return ``window`` if it is an integer >= 1, else raise a clear error."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            f"median window must be an integer >= 1 (1 = no smoothing), got {window!r}; "
            "Xu et al. use 2 (2x2) on MNIST and 2 or 3 on CIFAR-10"
        )
    return window


def check_bits(bits: int) -> int:
    """Return ``bits`` if it is an integer in 1..8, else raise a clear error."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(
            f"bit depth must be an integer from 1 to 8, got {bits!r}; "
            "1 bit = 2 levels (Xu et al.'s MNIST squeezer), 8 bits = no reduction"
        )
    return bits


def _symmetric_pad(x: Tensor, before: int, after: int) -> Tensor:
    """Pad H and W by mirroring with the edge pixel repeated (scipy.ndimage's 'reflect')."""
    for dim in (-2, -1):
        size = x.shape[dim]
        parts = [x.narrow(dim, 0, before).flip(dim), x, x.narrow(dim, size - after, after).flip(dim)]
        x = torch.cat(parts, dim)
    return x


def median_smooth(x: Tensor, window: int) -> Tensor:
    """Per-channel median over a ``window`` x ``window`` neighbourhood (Xu et al., Section 4).

    Follows scipy.ndimage.median_filter, which Xu et al.'s and IBM ART's code call: an even
    window reaches one pixel further up/left than down/right, borders are mirrored, and the
    median of an even count is the upper of the two middle values.
    """
    check_window(window)
    if window == 1:
        return x
    n, c, h, w = x.shape
    padded = _symmetric_pad(x, window // 2, window - 1 - window // 2)
    patches = F.unfold(padded.reshape(n * c, 1, *padded.shape[-2:]), window)
    rank = window * window // 2 + 1  # kthvalue counts from 1
    return patches.kthvalue(rank, dim=1).values.reshape(n, c, h, w)


class MedianFilter(nn.Module):
    """A ``window`` x ``window`` median filter as a module (Xu et al.'s smoothing squeezer), e.g.
    after the quantizer in place of the restorer: the ablation of notebook 06."""

    def __init__(self, window: int = 2):
        super().__init__()
        self.window = check_window(window)

    def forward(self, x: Tensor) -> Tensor:
        return median_smooth(x, self.window)

    def extra_repr(self) -> str:
        return f"window={self.window}"


class FeatureSqueezing(nn.Module):
    """Squeeze then classify: ``bits``-bit depth reduction, then a ``window`` x ``window`` median.

    Xu et al.'s MNIST squeezers are 1-bit depth and a 2x2 median; they use them one at a time
    (and jointly only for detection); here the two compose into one preprocessor, and either
    is switched off with bits=8 or window=1.
    """

    def __init__(self, bits: int = 1, window: int = 2):
        super().__init__()
        self.bits, self.window = check_bits(bits), check_window(window)

    def forward(self, x: Tensor) -> Tensor:
        if self.bits < 8:
            x = quantize(x, 2**self.bits)
        return median_smooth(x, self.window)


class SqueezeDetector(nn.Module):
    """Xu et al.'s detector: score = max over squeezers of the L1 distance between the softmax
    on the input and on its squeezed copy; flagged when above a threshold chosen so that a
    given share of clean images (5 % by default, as in their paper) is flagged."""

    def __init__(self, classifier: nn.Module, squeezers: list[nn.Module]):
        super().__init__()
        if not squeezers:
            raise ValueError("SqueezeDetector needs at least one squeezer, e.g. [FeatureSqueezing(1, 1)]")
        self.classifier, self.squeezers = classifier, nn.ModuleList(squeezers)
        self.threshold: float | None = None

    @torch.no_grad()
    def score(self, x: Tensor) -> Tensor:
        """Per-image max L1 distance between predictions before and after each squeezer
        (computed on the classifier's device, returned on the CPU)."""
        (x,) = on_device_of(self.classifier, x)
        p = F.softmax(self.classifier(x), dim=1)
        dists = [(F.softmax(self.classifier(s(x)), dim=1) - p).abs().sum(1) for s in self.squeezers]
        return torch.stack(dists).amax(0).cpu()

    def calibrate(self, clean: Tensor, false_positive_rate: float = 0.05) -> float:
        """Set the threshold at the (1 - rate) quantile of the clean scores; returns it."""
        if not 0 < false_positive_rate < 1:
            raise ValueError(f"false_positive_rate must be in (0, 1), got {false_positive_rate}")
        self.threshold = torch.quantile(self.score(clean), 1 - false_positive_rate).item()
        return self.threshold

    def forward(self, x: Tensor) -> Tensor:
        """True where the image is flagged as adversarial."""
        if self.threshold is None:
            raise RuntimeError("call calibrate(clean_images) before detecting")
        return self.score(x) > self.threshold
