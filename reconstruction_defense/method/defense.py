"""The defense of Zhang et al. (Fig. 2, 4): quantize to k levels, then restore; and its chaining
in front of an unmodified classifier."""

from __future__ import annotations

import torch
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


class StraightThroughPreprocessor(nn.Module):
    """BPDA with the identity as backward pass (Athalye et al. 2018, Section 4.1) for any
    preprocessor: forward = ``defense(x)``, gradient passed through unchanged. For defenses whose
    own gradient is zero or undefined (rounding, JPEG, PixelDefend's greedy argmax, ComDefend's
    binary code)."""

    def __init__(self, defense: nn.Module):
        super().__init__()
        self.defense = defense

    def forward(self, x: Tensor) -> Tensor:
        return _IdentityBackward.apply(x, self.defense)


class _IdentityBackward(torch.autograd.Function):
    """Forward: ``defense(x)`` exactly; backward: the incoming gradient unchanged."""

    @staticmethod
    def forward(ctx, x: Tensor, defense: nn.Module) -> Tensor:
        with torch.no_grad():
            return defense(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None
