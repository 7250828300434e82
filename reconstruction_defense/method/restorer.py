"""EDSR-style restoration network (Lim et al. 2017), used x1 as in Zhang et al., Fig. 4."""

from __future__ import annotations

import copy

from torch import Tensor, nn


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3, no BatchNorm, output scaled by ``res_scale`` then added back."""

    def __init__(self, n_feats: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(n_feats, n_feats, 3, padding=1)
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.body(x)


class Restorer(nn.Module):
    """Maps a quantized image back to a clean one (the paper's F(X, theta) of eq. 4).

    Head conv, ``n_blocks`` residual blocks, a conv closing the body with the EDSR long skip,
    tail conv, then a global skip from the input; output clamped to [0, 1], same size as input.
    With ``straight_through_clamp`` set (an attacker's copy, :func:`straight_through_copy`) the
    clamp passes gradients unchanged (BPDA): a restored pixel on the clamp otherwise has none.
    """

    straight_through_clamp = False

    def __init__(self, channels: int = 1, n_blocks: int = 8, n_feats: int = 64, res_scale: float = 0.1):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"restorer channels must be 1 or 3, got {channels}")
        if n_blocks < 1 or n_feats < 1:
            raise ValueError(f"n_blocks and n_feats must be >= 1 (got {n_blocks}, {n_feats})")
        self.channels = channels
        self.head = nn.Conv2d(channels, n_feats, 3, padding=1)
        self.body = nn.Sequential(
            *[ResBlock(n_feats, res_scale) for _ in range(n_blocks)], nn.Conv2d(n_feats, n_feats, 3, padding=1)
        )
        self.tail = nn.Conv2d(n_feats, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"restorer expects (N, {self.channels}, H, W) input, got {tuple(x.shape)}")
        feats = self.head(x)
        out = x + self.tail(feats + self.body(feats))
        if self.straight_through_clamp:
            return out + (out.clamp(0, 1) - out).detach()
        return out.clamp(0, 1)

    def extra_repr(self) -> str:
        return "straight_through_clamp=True" if self.straight_through_clamp else ""


def straight_through_copy(restorer: nn.Module) -> nn.Module:
    """``restorer`` with a straight-through output clamp, sharing its weights (any other module,
    a median filter or the identity of the ablation, is returned as it is)."""
    if not isinstance(restorer, Restorer):
        return restorer
    twin = copy.copy(restorer)  # a new attribute dict; parameters and submodules shared
    twin.straight_through_clamp = True
    return twin
