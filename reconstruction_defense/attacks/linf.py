"""The L-inf iterative attacks, BIM and PGD, returning per image the iterate with the lowest
margin, not the last one: a signed step of fixed size can cross the decision boundary and then
step back, and an evaluation that keeps the last iterate overstates robustness."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..config.attack_params import AttackParams
from .quantizer import _margin


def best_iterate(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int, start: Tensor
) -> tuple[Tensor, Tensor]:
    """``steps`` signed-gradient ascent steps of the cross-entropy from ``start`` (Kurakin et al.
    2016; Madry et al. 2018), each projected onto [x - eps, x + eps] ∩ [0, 1]; per image the
    iterate (``start`` included) with the lowest margin Z_y - max_{i != y} Z_i, and that margin.
    ``steps + 1`` forward passes."""
    adv = start.detach().clone()
    best, best_margin = adv.clone(), torch.full_like(y, float("inf"), dtype=x.dtype)
    for step in range(steps + 1):
        adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(adv)
            margin = _margin(logits, y).detach()
            better = margin < best_margin
            best[better], best_margin = adv.detach()[better], torch.minimum(margin, best_margin)
            if step == steps:
                break
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), adv)
        adv = torch.minimum(torch.maximum(adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return best, best_margin


def bim(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """BIM, eq. (2) (Kurakin et al. 2016): ``bim_steps`` steps of size eps/4 from the image,
    clipped to the eps-ball; the best iterate per image."""
    return best_iterate(model, x, y, eps, eps / 4, p.bim_steps, x)[0]


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """PGD-Linf (Madry et al. 2018): ``pgd_steps`` steps of 2.5 eps / steps from a uniform random
    start in the eps-ball, ``pgd_restarts`` times; per image the best iterate of the restart with
    the lowest margin."""
    alpha = 2.5 * eps / p.pgd_steps
    best, best_margin = x, torch.full_like(y, float("inf"), dtype=x.dtype)
    for _ in range(p.pgd_restarts):
        start = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        adv, margin = best_iterate(model, x, y, eps, alpha, p.pgd_steps, start)
        better = margin < best_margin
        best = torch.where(better.view(-1, *[1] * (x.dim() - 1)), adv, best)
        best_margin = torch.minimum(margin, best_margin)
    return best
