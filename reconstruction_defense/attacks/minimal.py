"""Minimal-perturbation L2 attacks, whose strength is a number of iterations: our batched DeepFool
and C&W-L2, and torchattacks 3.5.1's versions of both, kept as test oracles and benchmark
references. Registered in :mod:`reconstruction_defense.attacks.registry`."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torchattacks
from torch import Tensor, nn

from ..config.attack_params import AttackParams


def deepfool_torchattacks(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """torchattacks' per-image DeepFool: the reference our batched version is tested against."""
    return _originals_where_failed(model, x, y, torchattacks.DeepFool(model, steps=steps, overshoot=p.overshoot)(x, y))


def cw_torchattacks(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """torchattacks' C&W-L2: one fixed c, no binary search (the reference for ours)."""
    attack = torchattacks.CW(model, c=p.cw_c, kappa=p.cw_kappa, steps=steps, lr=p.cw_lr)
    return _originals_where_failed(model, x, y, attack(x, y))


def _originals_where_failed(model: nn.Module, x: Tensor, y: Tensor, adv: Tensor) -> Tensor:
    with torch.no_grad():
        fooled = model(adv).argmax(1) != y
    return torch.where(fooled.view(-1, 1, 1, 1), adv, x)


def deepfool(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """Batched DeepFool-L2 (Moosavi-Dezfooli et al. 2016, Alg. 2) with at most ``steps`` steps.

    Each step linearizes the classifier around the current point for the whole batch at once:
    one backward pass per candidate class k (the gradient of f_k - f_y), not per image. The
    candidates are the ``deepfool_candidates`` highest-scoring wrong classes (all of them by
    default; the authors' code has the same knob, ``num_classes``). Every still-correct image
    adds the step to its nearest linearized boundary to its total perturbation r and becomes
    clip(x + (1 + overshoot) r, 0, 1), as in the authors' code: overshooting the total, not
    each step, lets the iteration cross a boundary when clipping blocks part of a step.
    An image freezes as soon as its label flips; inputs already misclassified are returned
    unchanged, and so are images the attack fails on.
    """
    return deepfool_iterates(model, x, y, [steps], p)[0]


def deepfool_iterates(model: nn.Module, x: Tensor, y: Tensor, counts: list[int], p: AttackParams) -> list[Tensor]:
    """:func:`deepfool` at each of ``counts`` steps from one run of the longest: a run of fewer
    steps is a prefix of a longer one, so each count's result is the iterate recorded there."""
    recorded: dict[int, Tensor] = {}
    for step, adv in enumerate(_deepfool_walk(model, x, y, p)):
        recorded.update({c: adv.clone() for c in counts if c == step})
        if step >= max(counts):
            break
    return [_originals_where_failed(model, x, y, recorded.get(c, adv)) for c in counts]


def _deepfool_walk(model: nn.Module, x: Tensor, y: Tensor, p: AttackParams) -> Iterator[Tensor]:
    """DeepFool's iterate before its first step and after each one (one tensor, updated in place),
    until every image is fooled or the caller stops asking."""
    r_tot = torch.zeros_like(x)
    adv = x.clone()
    yield adv
    active = torch.nonzero(model(x).argmax(1) == y).flatten()
    while active.numel():
        xa = adv[active].clone().requires_grad_(True)
        logits = model(xa)
        ya = y[active]
        still = logits.argmax(1) == ya
        if not still.any():
            return
        n_cand = min(p.deepfool_candidates or logits.shape[1], logits.shape[1]) - 1
        cand = logits.detach().scatter(1, ya[:, None], float("-inf")).topk(n_cand, dim=1).indices
        diffs = logits.gather(1, cand) - logits.gather(1, ya[:, None])  # f_k - f_y, (B, n_cand)
        w = torch.stack(
            [torch.autograd.grad(diffs[:, j].sum(), xa, retain_graph=j < n_cand - 1)[0] for j in range(n_cand)], 1
        )[still]  # (B, n_cand, C, H, W)
        f, active = diffs.detach()[still], active[still]
        w_norm = w.flatten(2).norm(dim=2).clamp_min(1e-12)
        nearest = (f.abs() / w_norm).argmin(1)
        rows = torch.arange(len(active), device=x.device)
        scale = (f[rows, nearest].abs() + 1e-4) / w_norm[rows, nearest] ** 2
        r_tot[active] += scale.view(-1, 1, 1, 1) * w[rows, nearest]
        adv[active] = (x[active] + (1 + p.overshoot) * r_tot[active]).clamp(0, 1)
        yield adv


TANH_MARGIN = 1e-3  # C&W starts a saturated pixel at atanh(1 - 1e-3) = 3.8, half a 1e-3 step inside


def cw(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """Untargeted C&W-L2 (Carlini & Wagner 2017; eq. 3 of the paper) with a binary search over c.

    Change of variables x' = (tanh(w) + 1) / 2, Adam on ||x' - x||^2 + c * max(Z_y - max_{i!=y} Z_i,
    -kappa); ``steps`` Adam iterations per search step, ``cw_search_steps`` search steps, c
    per image: halved towards the last success, times 10 while it never succeeded. Keeps per image
    the smallest-L2 successful example among its own iterates; images never fooled are returned
    unchanged.

    Our schedule, each part checked against DeepFool by :func:`l2_convergence` at 50 iterations:

    - ``cw_start="deepfool"`` (the default) starts w at DeepFool's point (``steps`` steps), so C&W
      refines the nearest linearized boundary; from the image itself, untargeted C&W follows
      the currently highest wrong logit and on a CIFAR-10 LeNet ended 4-13 % above DeepFool.
    - Adam's step is per image: ``cw_lr`` until the image has an adversarial point, then the
      RMS pixel change of its best one so far (capped at ``cw_lr``), cosine-annealed to 0 within
      each search step. One global rate cannot serve both scales: MNIST's saturated pixels need
      0.1 to move in 50 steps, CIFAR-10's perturbations (RMS about 0.01) need 0.01.
    - w starts at most ``TANH_MARGIN`` / 2 inside the box, not 1e-6 (from atanh(1 - 1e-6) = 7.25,
      Adam could not move a pixel at exactly 0 or 1 within 50 iterations), and each search step
      starts from the image's best example so far.
    """
    n = len(x)
    start = x if p.cw_start == "image" else deepfool(model, x, y, steps, p)
    with torch.no_grad():
        logits = model(x)
    onehot = nn.functional.one_hot(y, logits.shape[1]).bool()
    best = x.clone()  # an image misclassified already stays as it is, at L2 = 0
    best_l2 = torch.where(logits.argmax(1) == y, float("inf"), 0.0)
    c = torch.full((n,), p.cw_c, device=x.device)
    lower, upper = torch.zeros(n, device=x.device), torch.full((n,), float("inf"), device=x.device)
    for _ in range(p.cw_search_steps):
        lr = _cw_step_sizes(torch.minimum(best_l2, _squared_l2(start, x)), x[0].numel(), p.cw_lr)
        end, found = _cw_descent(model, x, y, onehot, start, c, lr, steps, p.cw_kappa, best, best_l2)
        upper = torch.where(found, torch.minimum(upper, c), upper)
        lower = torch.where(found, lower, torch.maximum(lower, c))
        c = torch.where(upper < float("inf"), (lower + upper) / 2, c * 10)
        start = torch.where((best_l2 < float("inf")).view(-1, 1, 1, 1), best, end)
    return best


def _cw_descent(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    onehot: Tensor,
    start: Tensor,
    c: Tensor,
    lr: Tensor,
    steps: int,
    kappa: float,
    best: Tensor,
    best_l2: Tensor,
) -> tuple[Tensor, Tensor]:
    """One search step of :func:`cw`: ``steps`` Adam iterations from ``start`` at constants ``c``,
    updating ``best`` / ``best_l2`` (squared) in place; returns where it ended and which images
    it fooled."""
    w = _to_tanh_space(start).requires_grad_(True)
    adam = _Adam(w)
    found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for i in range(steps):
        xa = (torch.tanh(w) + 1) / 2
        logits = model(xa)
        real = logits[onehot]
        other = logits.masked_fill(onehot, float("-inf")).amax(1)
        l2 = _squared_l2(xa, x)
        (grad,) = torch.autograd.grad(l2.sum() + (c * (real - other + kappa).clamp_min(0)).sum(), w)
        with torch.no_grad():
            adam.step(grad, lr * (1 + math.cos(math.pi * i / steps)) / 2)
            success = (other - real >= kappa) & (logits.argmax(1) != y)
            better = success & (l2 < best_l2)
            best_l2.copy_(torch.where(better, l2, best_l2))
            best[better] = xa[better].detach()
            found |= success
    return (torch.tanh(w.detach()) + 1) / 2, found


def _to_tanh_space(v: Tensor) -> Tensor:
    return torch.atanh((2 * v - 1).clamp(-1 + TANH_MARGIN, 1 - TANH_MARGIN))


def _squared_l2(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).flatten(1).pow(2).sum(1)


def _cw_step_sizes(squared_l2: Tensor, pixels: int, cap: float) -> Tensor:
    """Per image: ``cap`` where no perturbation is known (or it is 0), else the RMS pixel change
    of the known one, at most ``cap``; shaped to broadcast over images."""
    rms = (squared_l2 / pixels).sqrt()
    known = torch.isfinite(rms) & (rms > 0)
    return torch.where(known, rms.clamp(max=cap), torch.full_like(rms, cap)).view(-1, 1, 1, 1)


class _Adam:
    """Adam (Kingma & Ba 2015, Alg. 1, default betas) with a step size per image, which
    ``torch.optim.Adam``'s one learning rate per parameter cannot express."""

    def __init__(self, w: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.w, self.betas, self.eps, self.t = w, betas, eps, 0
        self.m, self.v = torch.zeros_like(w), torch.zeros_like(w)

    def step(self, grad: Tensor, lr: Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.w.sub_(lr * m_hat / (v_hat.sqrt() + self.eps))


DDN_GAMMA = 0.05  # the norm grows or shrinks by 5 % per step (Rony et al. 2019, Section 3)


def ddn(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """Decoupled Direction and Norm L2 attack (Rony et al. 2019, Alg. 1), a minimal-norm attack of
    another family than C&W (no penalty constant, no search over it): each step moves the
    perturbation along the normalized gradient of the logit margin max_{i!=y} Z_i - Z_y (step
    size cosine-annealed from 1 to 0.01), then rescales it onto a sphere whose radius shrinks by
    ``DDN_GAMMA`` while the point is adversarial and grows otherwise. Keeps per image the
    smallest-L2 adversarial point; images already misclassified stay at L2 = 0, images never
    fooled are returned unchanged. The margin replaces the paper's cross-entropy: with it, on a
    CIFAR-10 LeNet, the median L2 stalled at 0.49 against DeepFool's 0.39 (margin: 0.33)."""
    n = len(x)
    delta = torch.zeros_like(x, requires_grad=True)
    radius = torch.ones(n, device=x.device)
    best, best_l2 = x.clone(), torch.full((n,), float("inf"), device=x.device)
    for step in range(steps + 1):  # the last pass only scores the final point
        adv = x + delta
        logits = model(adv)
        with torch.no_grad():
            l2 = delta.flatten(1).norm(dim=1)
            fooled = logits.argmax(1) != y
            better = fooled & (l2 < best_l2)
            best_l2, best[better] = torch.where(better, l2, best_l2), adv[better].detach()
        if step == steps:
            break
        real = logits.gather(1, y[:, None]).squeeze(1)
        margin = logits.scatter(1, y[:, None], float("-inf")).amax(1) - real
        (grad,) = torch.autograd.grad(margin.sum(), delta)
        alpha = 0.01 + 0.99 * (1 + math.cos(math.pi * step / steps)) / 2
        with torch.no_grad():
            radius = torch.where(fooled, radius * (1 - DDN_GAMMA), radius * (1 + DDN_GAMMA))
            moved = delta + alpha * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            moved *= (radius / moved.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
            delta.copy_((x + moved).clamp(0, 1) - x)
    return best
