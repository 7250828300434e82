"""ComDefend (Jia, Wei, Cao, Foroosh, CVPR 2019): a compression CNN squeezes the image into a few
binary feature maps, a reconstruction CNN rebuilds it; adversarial noise does not survive the
binary code."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_stack(widths: list[int], last: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Conv2d(a, b, 3, padding=1))
        if i < len(widths) - 2:
            layers.append(nn.ELU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class ComDefend(nn.Module):
    """ComCNN -> binary code -> RecCNN, all 3x3 convolutions with ELU, spatial size kept.

    Training (``self.training``, eq. 1-3 of Jia et al.): code = sigmoid(ComCNN(x) - noise), noise
    ~ N(0, ``noise_std``), which pushes the code towards 0/1; loss MSE(RecCNN(code), x) +
    λ‖ComCNN(x)‖² (see ``training.loops.comdefend_epoch``). Evaluation: the code is thresholded at 0.5
    (sigmoid > 0.5), so the defense is deterministic and needs no EOT.

    Deviations, for a 2-core CPU: ``widths`` default to 16-32 (5 layers each; theirs: 9 layers
    each, up to 256 channels), trained a few epochs at a learning rate of 1e-3 (higher rates
    collapse it to the mean image). The code has ``4 x channels`` maps (12 for RGB as in the
    paper, 4 for grayscale as in the authors' Fashion-MNIST code), switchable via ``code_channels``.
    """

    def __init__(
        self,
        channels: int,
        code_channels: int | None = None,
        widths: tuple[int, ...] = (16, 32),
        noise_std: float = 1.0,
    ):
        super().__init__()
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        code = code_channels or 4 * channels
        inner = list(widths) + list(reversed(widths[:-1]))
        self.com = _conv_stack([channels, *inner, code], None)
        self.rec = _conv_stack([code, *inner, channels], nn.Sigmoid())
        self.noise_std = noise_std

    def encode(self, x: Tensor) -> Tensor:
        """The real-valued code before the sigmoid (ComCNN; the paper centres inputs at 0)."""
        return self.com(x - 0.5)

    def binarize(self, linear_code: Tensor) -> Tensor:
        """Noisy sigmoid while training, hard 0/1 threshold at evaluation."""
        if self.training:
            return torch.sigmoid(linear_code - self.noise_std * torch.randn_like(linear_code))
        return (linear_code > 0).float()

    def forward(self, x: Tensor) -> Tensor:
        return self.rec(self.binarize(self.encode(x)))
