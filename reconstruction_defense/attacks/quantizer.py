"""An attack that uses the quantizer's structure instead of differentiating through it.

Within an L-inf ball of radius eps, a pixel can only land on the levels between the rounding of
its lowest and its highest reachable value (rounding is monotone), so the defended pipeline sees
a finite set of quantized images. The flip search walks that set: it ranks pixel level changes
by the gradient of the margin after the quantizer (restorer and classifier) and applies the most
damaging ones, scoring every candidate exactly through the real quantizer. Registered in
:mod:`reconstruction_defense.attacks.registry` as ``flip``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config.attack_params import AttackParams
from ..method.quantize import quantize


def ball_edges(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Per pixel, the lowest and the highest value of ``x``'s dtype in [x - eps, x + eps] ∩ [0, 1],
    decided in float64: computed in float32, ``x - eps`` can round outside the ball (0.6 - 0.1
    gives 0.5, a tie of the quantizer that no float32 input within 0.1 of 0.6 reaches)."""
    wide = x.double()
    low, high = (wide - eps).clamp(0, 1), (wide + eps).clamp(0, 1)
    low_x, high_x = low.to(x.dtype), high.to(x.dtype)
    low_x = torch.where(low_x.double() < low, torch.nextafter(low_x, torch.ones_like(low_x)), low_x)
    high_x = torch.where(high_x.double() > high, torch.nextafter(high_x, torch.zeros_like(high_x)), high_x)
    return low_x, high_x


def reachable_levels(x: Tensor, k: int, eps: float) -> tuple[Tensor, Tensor]:
    """Per pixel, the lowest and highest k-level value the quantizer can output for any input in
    [x - eps, x + eps] ∩ [0, 1] (:func:`ball_edges`); every level between them is reachable too,
    since rounding is monotone."""
    low, high = ball_edges(x, eps)
    return quantize(low, k), quantize(high, k)


def preimage(levels: Tensor, x: Tensor, eps: float) -> Tensor:
    """An input within eps of ``x`` that quantizes to ``levels`` (where they are reachable): the
    level itself if it lies in the ball, else the ball's nearest edge, which then rounds to it."""
    low, high = ball_edges(x, eps)
    return torch.minimum(torch.maximum(levels, low), high)


def _margin(logits: Tensor, y: Tensor) -> Tensor:
    """Z_y - max_{i != y} Z_i per image: negative once the image is misclassified."""
    real = logits.gather(1, y[:, None]).squeeze(1)
    return real - logits.scatter(1, y[:, None], float("-inf")).amax(1)


def flip_search(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """Greedy gradient-ranked level search against ``model`` = ``Defended(ReconstructionDefense,
    classifier)``. ``flip_steps`` rounds; each moves, per image, the ``1 / flip_steps`` share of
    its reachable pixels whose move to the reachable extreme that the margin's gradient (taken on
    the quantized image, after the quantizer) favours promises the largest margin decrease, then
    scores the new quantized image exactly. Keeps per image the first misclassified (else the
    lowest-margin) quantized image and returns an input in the eps-ball that quantizes to it."""
    defense = getattr(model, "defense", None)
    if defense is None or not hasattr(defense, "quantizer"):
        raise TypeError(
            "the flip search attacks a Defended(ReconstructionDefense(...), classifier) "
            f"pipeline (it needs the quantizer's k); got {type(model).__name__}"
        )
    k = defense.quantizer.k

    def after_quantizer(q: Tensor) -> Tensor:
        return model.classifier(defense.restorer(q))

    low, high = reachable_levels(x, k, eps)
    movable = (high > low).flatten(1)
    per_round = (movable.sum(1).float() / p.flip_steps).ceil().clamp_min(1).long()
    q = quantize(x, k)
    with torch.no_grad():
        best, best_margin = q.clone(), _margin(after_quantizer(q), y)
    for _ in range(p.flip_steps):
        todo = best_margin >= 0
        if not todo.any():
            break
        current = q.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_margin(after_quantizer(current), y).sum(), current)
        target = torch.where(grad < 0, high, low)
        gain = (-grad * (target - q)).flatten(1).masked_fill(~movable, 0.0)
        order = gain.argsort(1, descending=True)
        chosen = torch.arange(gain.shape[1], device=x.device) < per_round[:, None]
        flip = torch.zeros_like(chosen).scatter(1, order, chosen) & (gain > 0) & todo[:, None]
        q = torch.where(flip.view_as(q), target, q)
        with torch.no_grad():
            margin = _margin(after_quantizer(q), y)
            better = todo & (margin < best_margin)
            best_margin, best[better] = torch.where(better, margin, best_margin), q[better]
    return preimage(best, x, eps)
