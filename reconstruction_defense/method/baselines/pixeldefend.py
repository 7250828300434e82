"""PixelDefend (Song, Kim, Nowozin, Ermon, Kushman, ICLR 2018): a PixelCNN trained on clean
images moves each pixel, within a small L-infinity ball around its input value, to the value the
model finds most likely given the pixels already purified (greedy decoding, their Algorithm 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEVELS = 256  # pixel intensities 0..255, one softmax class each


def check_eps_defend(eps_defend: float) -> float:
    """The purification ball's radius, in [0, 1] image units (Song et al. use 32/255 on F-MNIST)."""
    if not 0 <= eps_defend <= 1:
        raise ValueError(
            f"eps_defend must be in [0, 1] (image units; 32/255 = {32 / 255:.4f} is the "
            f"PixelDefend paper's Fashion-MNIST value), got {eps_defend}"
        )
    return float(eps_defend)


class MaskedConv2d(nn.Conv2d):
    """A causal convolution (van den Oord et al. 2016): the output at (row, col) sees the input
    rows above and, in its own row, the columns to the left, plus (col) itself unless ``exclude_centre``
    (mask A, first layer only, so no pixel sees its own value)."""

    def __init__(self, in_channels: int, out_channels: int, size: int, exclude_centre: bool):
        super().__init__(in_channels, out_channels, size, padding=size // 2)
        mask = torch.ones_like(self.weight)
        centre = size // 2
        mask[:, :, centre, centre + (0 if exclude_centre else 1) :] = 0
        mask[:, :, centre + 1 :, :] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    """A small PixelCNN: a 7x7 mask-A convolution, ``n_blocks`` residual 3x3 mask-B convolutions,
    two 1x1 convolutions to a 256-way softmax per channel and pixel.

    Deviation from PixelDefend's PixelCNN++ (discretized logistic mixtures, gated ResNet, about
    50 M parameters): a plain categorical PixelCNN of ``width`` features, CPU-sized; the channels
    of one pixel are predicted independently given the pixels before it (no R->G->B ordering).
    """

    def __init__(self, channels: int, width: int = 16, n_blocks: int = 4):
        super().__init__()
        self.channels = channels
        self.first = MaskedConv2d(channels, width, 7, exclude_centre=True)
        self.blocks = nn.ModuleList(MaskedConv2d(width, width, 3, exclude_centre=False) for _ in range(n_blocks))
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(width, 2 * width, 1), nn.ReLU(), nn.Conv2d(2 * width, channels * LEVELS, 1)
        )
        # How many rows above a pixel its prediction can see: 3 for the 7x7, 1 per 3x3.
        self.reach = 3 + n_blocks

    def features(self, x: Tensor) -> Tensor:
        """The causal feature maps before the output head (inputs in [0, 1], centred here)."""
        h = self.first(2 * x - 1)
        for block in self.blocks:
            h = h + block(F.relu(h))
        return h

    def logits(self, x: Tensor) -> Tensor:
        """Per pixel and channel, unnormalized log-probabilities of the 256 intensities given the
        pixels before it in raster order: shape (batch, channels, 256, height, width)."""
        h = self.head(self.features(x))
        return h.view(len(x), self.channels, LEVELS, *x.shape[2:])

    def nll(self, x: Tensor) -> Tensor:
        """Mean negative log-likelihood in nats per sub-pixel (the training loss)."""
        return F.cross_entropy(self.logits(x).transpose(1, 2), intensities(x))


def intensities(x: Tensor) -> Tensor:
    """Images in [0, 1] as integer intensities 0..255."""
    return (x * (LEVELS - 1)).round().long()


class PixelDefend(nn.Module):
    """Purification by greedy decoding (Song et al. 2018, Algorithm 1): in raster order, each
    pixel's channels are set to the most likely intensity under ``pixelcnn`` among those within
    ``eps_defend`` of the input's, conditioned on the pixels already purified.

    Deterministic, no gradients (it is an argmax); costs height x width PixelCNN evaluations per
    batch, each on the strip of rows a pixel can see (``pixelcnn.reach``) rather than the image.
    """

    def __init__(self, pixelcnn: PixelCNN, eps_defend: float = 32 / 255):
        super().__init__()
        self.pixelcnn = pixelcnn
        self.eps_defend = check_eps_defend(eps_defend)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        # Decoding runs thousands of tiny convolutions; intra-op threads only add sync cost, and
        # on a busy 2-core machine measured 150x slower (76 s vs 0.5 s for 20 images). One thread.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._decode(x)
        finally:
            torch.set_num_threads(threads)

    def _decode(self, x: Tensor) -> Tensor:
        radius = round(self.eps_defend * (LEVELS - 1))
        start = intensities(x)
        values = torch.arange(LEVELS, device=x.device).view(1, 1, LEVELS)
        out = start.float() / (LEVELS - 1)
        height, width = x.shape[2:]
        for row in range(height):
            top = max(0, row - self.pixelcnn.reach)
            for col in range(width):
                feats = self.pixelcnn.features(out[:, :, top : row + 1])[:, :, -1:, col : col + 1]
                logits = self.pixelcnn.head(feats).view(len(x), -1, LEVELS)
                centre = start[:, :, row, col].unsqueeze(-1)
                allowed = (values - centre).abs() <= radius
                best = logits.masked_fill(~allowed, float("-inf")).argmax(-1)
                out[:, :, row, col] = best.float() / (LEVELS - 1)
        return out
