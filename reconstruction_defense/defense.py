"""The defense of Zhang et al. (Fig. 2, 4): quantize to k levels, then restore; and its chaining
in front of an unmodified classifier."""
from __future__ import annotations

from torch import Tensor, nn

from .quantize import Quantizer


class ReconstructionDefense(nn.Module):
    """x -> restorer(q_k(x)). ``straight_through=True`` makes q_k differentiable (BPDA)."""

    def __init__(self, restorer: nn.Module, k: int, straight_through: bool = False):
        super().__init__()
        self.quantizer = Quantizer(k, straight_through)
        self.restorer = restorer

    def forward(self, x: Tensor) -> Tensor:
        return self.restorer(self.quantizer(x))


class Defended(nn.Module):
    """``classifier(defense(x))``: attack this to attack the whole pipeline, not the bare classifier."""

    def __init__(self, defense: nn.Module, classifier: nn.Module):
        super().__init__()
        self.defense = defense
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.defense(x))
