"""JPEG compression as a preprocessing defense (Das et al. 2017, "Keeping the bad guys out")."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg


def check_quality(quality: int) -> int:
    """Return ``quality`` if it is an integer in 1..100, else raise a clear error."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(
            f"JPEG quality must be an integer from 1 to 100, got {quality!r}; "
            "Das et al. 2017 use 75 (lower compresses harder)"
        )
    return quality


class JPEGCompression(nn.Module):
    """x -> decode(encode_jpeg(x, quality)), image by image through libjpeg (torchvision).

    Not differentiable: like the quantizer, it hides gradients from attacks that do not model it.
    Grayscale and RGB inputs; output in [0, 1] on the 1/255 grid.
    """

    def __init__(self, quality: int = 75):
        super().__init__()
        self.quality = check_quality(quality)

    def forward(self, x: Tensor) -> Tensor:
        pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        encoded = encode_jpeg(list(pixels), quality=self.quality)
        decoded = decode_jpeg(encoded, mode=ImageReadMode.UNCHANGED)
        return (torch.stack(decoded).float() / 255).to(x.device)
