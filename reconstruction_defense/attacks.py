"""Attack registry: FGSM, BIM (strength = eps, L-inf), DeepFool, C&W-L2 (strength = iterations);
for the adaptive evaluation also PGD, APGD-CE/DLR and Square (strength = eps, L-inf).

``deepfool`` and ``cw`` are our batched implementations; ``deepfool_ta`` and ``cw_ta`` are
torchattacks 3.5.1's, kept as test oracles and benchmark references. Every attack takes images in
[0, 1] and a model returning logits, and leaves the model exactly as it found it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torchattacks
from torch import Tensor, nn

from .data import check_images


@dataclass(frozen=True)
class AttackParams:
    """Knobs other than the strength; the defaults are the ``cpu`` profile's."""

    bim_steps: int = 10
    overshoot: float = 0.02  # DeepFool, as in Moosavi-Dezfooli et al. 2016
    deepfool_candidates: int | None = None  # classes linearized per step (with y); None = all
    cw_c: float = 1.0  # initial constant of the C&W binary search
    cw_kappa: float = 0.0
    cw_lr: float = 0.05
    cw_search_steps: int = 3
    pgd_steps: int = 20  # adaptive evaluation (notebook 06): PGD-Linf, step 2.5 eps / steps
    pgd_restarts: int = 1
    apgd_steps: int = 25
    square_queries: int = 200
    batch_size: int = 250  # images per attack batch; part of the adversarial-set cache key


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients for the duration of an attack; both restored after."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """FGSM, eq. (1) of the paper (Goodfellow et al. 2015), through torchattacks."""
    return torchattacks.FGSM(model, eps=eps)(x, y)


def bim(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """BIM, eq. (2) (Kurakin et al. 2016): ``bim_steps`` steps of size eps/4, clipped to the eps-ball."""
    return torchattacks.BIM(model, eps=eps, alpha=eps / 4, steps=p.bim_steps)(x, y)


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """PGD-Linf (Madry et al. 2018): ``pgd_steps`` steps of 2.5 eps / steps from a random start in
    the eps-ball, ``pgd_restarts`` times; per image the first restart that fools ``model`` is kept."""
    attack = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / p.pgd_steps, steps=p.pgd_steps)
    best = attack(x, y)
    for _ in range(p.pgd_restarts - 1):
        still_right = _predicts(model, best) == y
        if not still_right.any():
            break
        best[still_right] = attack(x[still_right], y[still_right])
    return best


def apgd_ce(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """APGD with cross-entropy (Croce & Hein 2020), Linf, ``apgd_steps`` steps, through torchattacks."""
    return torchattacks.APGD(model, norm="Linf", eps=eps, steps=p.apgd_steps, loss="ce")(x, y)


def apgd_dlr(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """APGD with the difference-of-logits-ratio loss (Croce & Hein 2020), scale-invariant."""
    return torchattacks.APGD(model, norm="Linf", eps=eps, steps=p.apgd_steps, loss="dlr")(x, y)


def square(model: nn.Module, x: Tensor, y: Tensor, eps: float, p: AttackParams) -> Tensor:
    """Square attack (Andriushchenko et al. 2020): gradient-free, Linf, ``square_queries`` queries;
    the check against gradient masking."""
    return torchattacks.Square(model, norm="Linf", eps=eps, n_queries=p.square_queries)(x, y)


@torch.no_grad()
def _predicts(model: nn.Module, x: Tensor) -> Tensor:
    return model(x).argmax(1)


def deepfool_torchattacks(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """torchattacks' per-image DeepFool: the reference our batched version is tested against."""
    return _originals_where_failed(model, x, y, torchattacks.DeepFool(model, steps=steps,
                                                                      overshoot=p.overshoot)(x, y))


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
    r_tot = torch.zeros_like(x)
    adv = x.clone()
    active = torch.nonzero(model(x).argmax(1) == y).flatten()
    for _ in range(steps):
        if active.numel() == 0:
            break
        xa = adv[active].clone().requires_grad_(True)
        logits = model(xa)
        ya = y[active]
        still = logits.argmax(1) == ya
        if not still.any():
            break
        n_cand = min(p.deepfool_candidates or logits.shape[1], logits.shape[1]) - 1
        cand = logits.detach().scatter(1, ya[:, None], float("-inf")).topk(n_cand, dim=1).indices
        diffs = logits.gather(1, cand) - logits.gather(1, ya[:, None])  # f_k - f_y, (B, n_cand)
        w = torch.stack([torch.autograd.grad(diffs[:, j].sum(), xa, retain_graph=j < n_cand - 1)[0]
                         for j in range(n_cand)], 1)[still]  # (B, n_cand, C, H, W)
        f, active = diffs.detach()[still], active[still]
        w_norm = w.flatten(2).norm(dim=2).clamp_min(1e-12)
        nearest = (f.abs() / w_norm).argmin(1)
        rows = torch.arange(len(active))
        scale = (f[rows, nearest].abs() + 1e-4) / w_norm[rows, nearest] ** 2
        r_tot[active] += scale.view(-1, 1, 1, 1) * w[rows, nearest]
        adv[active] = (x[active] + (1 + p.overshoot) * r_tot[active]).clamp(0, 1)
    return _originals_where_failed(model, x, y, adv)


def cw(model: nn.Module, x: Tensor, y: Tensor, steps: int, p: AttackParams) -> Tensor:
    """Untargeted C&W-L2 (Carlini & Wagner 2017; eq. 3 of the paper) with a binary search over c.

    Change of variables x' = (tanh(w) + 1) / 2, Adam on ||x' - x||^2 + c * max(Z_y - max_{i!=y} Z_i,
    -kappa); ``steps`` Adam iterations per search step, ``cw_search_steps`` search steps, c
    per image: halved towards the last success, times 10 while it never succeeded. Keeps per image
    the smallest-L2 successful example; images never fooled are returned unchanged.
    """
    n = len(x)
    w0 = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    c = torch.full((n,), p.cw_c)
    lower, upper = torch.zeros(n), torch.full((n,), float("inf"))
    best_l2, best = torch.full((n,), float("inf")), x.clone()
    onehot = nn.functional.one_hot(y, model(x[:1]).shape[1]).bool()
    for _ in range(p.cw_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=p.cw_lr)
        found = torch.zeros(n, dtype=torch.bool)
        for _ in range(steps):
            xa = (torch.tanh(w) + 1) / 2
            logits = model(xa)
            real = logits[onehot]
            other = logits.masked_fill(onehot, float("-inf")).amax(1)
            l2 = (xa - x).flatten(1).pow(2).sum(1)
            loss = l2.sum() + (c * (real - other + p.cw_kappa).clamp_min(0)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                success = (other - real >= p.cw_kappa) & (logits.argmax(1) != y)
                better = success & (l2 < best_l2)
                best_l2 = torch.where(better, l2, best_l2)
                best[better] = xa[better].detach()
                found |= success
        upper = torch.where(found, torch.minimum(upper, c), upper)
        lower = torch.where(found, lower, torch.maximum(lower, c))
        c = torch.where(upper < float("inf"), (lower + upper) / 2, c * 10)
    return best


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack: its function, what its strength means, its display name and the
    :class:`AttackParams` fields it reads (only those key its cached results)."""

    fn: Callable[[nn.Module, Tensor, Tensor, float, AttackParams], Tensor]
    strength: str  # "eps" or "iterations"
    display: str
    uses: tuple[str, ...] = ()


_DEEPFOOL = ("overshoot", "deepfool_candidates")
_CW = ("cw_c", "cw_kappa", "cw_lr", "cw_search_steps")
ATTACKS: dict[str, AttackInfo] = {
    "fgsm": AttackInfo(fgsm, "eps", "FGSM"),
    "bim": AttackInfo(bim, "eps", "BIM", ("bim_steps",)),
    "deepfool": AttackInfo(deepfool, "iterations", "DeepFool", _DEEPFOOL),
    "cw": AttackInfo(cw, "iterations", "C&W-L2", _CW),
    "pgd": AttackInfo(pgd, "eps", "PGD", ("pgd_steps", "pgd_restarts")),
    "apgd_ce": AttackInfo(apgd_ce, "eps", "APGD-CE", ("apgd_steps",)),
    "apgd_dlr": AttackInfo(apgd_dlr, "eps", "APGD-DLR", ("apgd_steps",)),
    "square": AttackInfo(square, "eps", "Square", ("square_queries",)),
    "deepfool_ta": AttackInfo(deepfool_torchattacks, "iterations", "DeepFool (torchattacks)", ("overshoot",)),
    "cw_ta": AttackInfo(cw_torchattacks, "iterations", "C&W-L2 (torchattacks)", ("cw_c", "cw_kappa", "cw_lr")),
}


def params_used(name: str, params: AttackParams) -> dict:
    """The fields of ``params`` that attack ``name`` reads, plus the batch size (random starts and
    Square's sampling depend on how the images are batched)."""
    return {f: getattr(params, f) for f in (*ATTACKS[name].uses, "batch_size")}


def check_strength(name: str, strength: float) -> None:
    """Raise unless ``strength`` is valid for attack ``name`` (eps in [0, 1]; iterations >= 1)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid: {', '.join(ATTACKS)}")
    if ATTACKS[name].strength == "eps":
        if not 0 <= strength <= 1:
            raise ValueError(f"{name} eps must lie in [0, 1] (images are in [0, 1]); got {strength}")
    elif strength < 1 or int(strength) != strength:
        raise ValueError(f"{name} strength is a number of iterations, an integer >= 1; got {strength}")


def run_attack(name: str, model: nn.Module, images: Tensor, labels: Tensor, strength: float,
               params: AttackParams = AttackParams(), seed: int = 0) -> Tensor:
    """Adversarial versions of ``images`` against ``model`` (in batches), in [0, 1].

    ``strength`` is eps for FGSM/BIM and the maximum number of iterations for DeepFool/C&W, as
    in the paper's Figures 6-8.
    """
    check_strength(name, strength)
    check_images(images)
    fn = ATTACKS[name].fn
    if ATTACKS[name].strength == "iterations":
        strength = int(strength)
    torch.manual_seed(seed)
    out = []
    with frozen(model):
        for start in range(0, len(images), params.batch_size):
            sl = slice(start, start + params.batch_size)
            out.append(fn(model, images[sl], labels[sl], strength, params).detach())
    return torch.cat(out)
