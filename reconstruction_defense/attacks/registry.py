"""Attack registry: FGSM, BIM (strength = eps, L-inf), DeepFool, C&W-L2 (strength = iterations);
for the adaptive evaluation also PGD, APGD-CE/DLR, Square and the quantizer flip search
(strength = eps, L-inf) and DDN, a second minimal-norm L2 attack (strength = iterations).

BIM and PGD are ours and return each image's best iterate (:mod:`.linf`); ``deepfool`` and
``cw`` are our batched implementations (:mod:`.minimal`); ``deepfool_ta``
and ``cw_ta`` are torchattacks 3.5.1's, kept as test oracles and benchmark references. Every
attack takes images in [0, 1] and a model returning logits, and leaves the model exactly as it
found it. Tables hold an attack's key (``"cw"``); its display name (``"C&W-L2"``) is applied only
where a table or figure is rendered (:func:`display_name`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torchattacks
from torch import Tensor, nn

from ..config.attack_params import AttackParams
from ..config.device import full_float32, model_device, on_device_of
from ..config.progress import passes_bar
from ..data.datasets import check_images
from .linf import bim, pgd
from .minimal import cw, cw_torchattacks, ddn, deepfool, deepfool_iterates, deepfool_torchattacks
from .quantizer import flip_search


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


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack: its function, what its strength means, its display name, the
    :class:`AttackParams` fields it reads and its code version (fields and version key its cached
    results: bump ``version`` by hand whenever the attack's behaviour changes)."""

    fn: Callable[[nn.Module, Tensor, Tensor, float, AttackParams], Tensor]
    strength: str  # "eps" or "iterations"
    display: str
    uses: tuple[str, ...] = ()
    version: int = 1


_DEEPFOOL = ("overshoot", "deepfool_candidates")
_CW = ("cw_c", "cw_kappa", "cw_lr", "cw_search_steps", "cw_start", *_DEEPFOOL)
ATTACKS: dict[str, AttackInfo] = {
    "fgsm": AttackInfo(fgsm, "eps", "FGSM"),
    "bim": AttackInfo(bim, "eps", "BIM", ("bim_steps",), version=2),
    "deepfool": AttackInfo(deepfool, "iterations", "DeepFool", _DEEPFOOL),
    # v2: start inside the tanh box by 1e-3, warm-start each search step (minimal_attacks.cw)
    # v3: start at DeepFool's point, Adam's step per image, cosine-annealed
    "cw": AttackInfo(cw, "iterations", "C&W-L2", _CW, version=3),
    # v2: random starts seeded per attack batch (batch_seed), so sharded runs equal serial ones
    "pgd": AttackInfo(pgd, "eps", "PGD", ("pgd_steps", "pgd_restarts"), version=3),
    "apgd_ce": AttackInfo(apgd_ce, "eps", "APGD-CE", ("apgd_steps",)),
    "apgd_dlr": AttackInfo(apgd_dlr, "eps", "APGD-DLR", ("apgd_steps",)),
    "square": AttackInfo(square, "eps", "Square", ("square_queries",)),
    "flip": AttackInfo(flip_search, "eps", "Quantizer flip search", ("flip_steps",), version=2),
    "ddn": AttackInfo(ddn, "iterations", "DDN"),
    "deepfool_ta": AttackInfo(deepfool_torchattacks, "iterations", "DeepFool (torchattacks)", ("overshoot",)),
    "cw_ta": AttackInfo(cw_torchattacks, "iterations", "C&W-L2 (torchattacks)", ("cw_c", "cw_kappa", "cw_lr")),
}


# attacks whose run of n iterations is a prefix of a longer run: (model, x, y, counts, params) ->
# one result per count (C&W is not: each of its search steps runs all its iterations anew)
ITERATES = {"deepfool": deepfool_iterates}

PAPER_ATTACKS = ("fgsm", "bim", "deepfool", "cw")  # the paper's four, in its tables' order


def display_name(label: str) -> str:
    """How a table's attack label is shown: the registered display name for an attack key, also
    inside a cascade label (``"apgd_ce (cascade)"`` -> ``"APGD-CE (cascade)"``); any other label
    (``"clean"``, ``"worst case"``) as it is."""
    key, sep, rest = label.partition(" ")
    return ATTACKS[key].display + sep + rest if key in ATTACKS else label


def params_used(name: str, params: AttackParams) -> dict:
    """The fields of ``params`` that attack ``name`` reads, plus the batch size (random starts and
    Square's sampling depend on how the images are batched)."""
    return {f: getattr(params, f) for f in (*ATTACKS[name].uses, "batch_size")}


def attack_code_version(name: str) -> str:
    """What the code that makes attack ``name``'s examples is: its own version and the torch and
    torchattacks versions (part of every cached adversarial set's key)."""
    return f"{name} v{ATTACKS[name].version}, torch {torch.__version__}, torchattacks {torchattacks.__version__}"


def check_strength(name: str, strength: float) -> None:
    """Raise unless ``strength`` is valid for attack ``name`` (eps in [0, 1]; iterations >= 1)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid: {', '.join(ATTACKS)}")
    if ATTACKS[name].strength == "eps":
        if not 0 <= strength <= 1:
            raise ValueError(f"{name} eps must lie in [0, 1] (images are in [0, 1]); got {strength}")
    elif strength < 1 or int(strength) != strength:
        raise ValueError(f"{name} strength is a number of iterations, an integer >= 1; got {strength}")


def batch_seed(seed: int, batch: int) -> int:
    """The RNG seed of attack batch number ``batch``: ``seed`` for the first, so a set made in
    one batch is unchanged; per batch, so a batch's examples do not depend on which process made
    the batches before it (:mod:`..config.distributed`)."""
    return seed + 1_000_003 * batch


def expected_passes(name: str, strength: float, p: AttackParams) -> int:
    """How many forward passes attack ``name`` makes on one batch at most (its budget): the total of
    its progress bar. Early stops (DeepFool, an image already fooled) end the bar sooner."""
    budgets = {
        "fgsm": 1,
        "bim": p.bim_steps + 1,  # the best iterate: the last one is scored too
        "pgd": (p.pgd_steps + 1) * p.pgd_restarts,
        "apgd_ce": p.apgd_steps,
        "apgd_dlr": p.apgd_steps,
        "square": p.square_queries,
        "flip": p.flip_steps,
        "cw": int(strength) * (p.cw_search_steps + (p.cw_start == "deepfool")),
        "cw_ta": int(strength),
    }
    return budgets.get(name, int(strength))  # DeepFool, DDN: one pass per iteration


def run_attack(
    name: str,
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    strength: float,
    params: AttackParams = AttackParams(),
    seed: int = 0,
) -> Tensor:
    """Adversarial versions of ``images`` against ``model`` (in batches of ``params.batch_size``,
    each on the model's device, seeded by :func:`batch_seed`, in full float32 even inside an
    autocast region (:func:`~reconstruction_defense.config.device.full_float32`); the result on the
    CPU), in [0, 1].

    ``strength`` is eps for FGSM/BIM and the maximum number of iterations for DeepFool/C&W, as
    in the paper's Figures 6-8.
    """
    check_strength(name, strength)
    if ATTACKS[name].strength == "iterations":
        strength = int(strength)
    fn = ATTACKS[name].fn
    return _in_batches(
        name, model, images, labels, [strength], params, seed, lambda x, y: [fn(model, x, y, strength, params)]
    )[0]


def run_attack_iterates(
    name: str,
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    counts: list[int],
    params: AttackParams = AttackParams(),
    seed: int = 0,
) -> list[Tensor]:
    """:func:`run_attack` at each iteration count of ``counts``, from one run of the longest, for
    an attack whose shorter runs are prefixes of its longer ones (:data:`ITERATES`: DeepFool);
    equal, bit for bit, to one :func:`run_attack` per count."""
    if name not in ITERATES:
        raise ValueError(f"{name!r} cannot record its iterates; attacks that can: {', '.join(ITERATES)}")
    for count in counts:
        check_strength(name, count)
    counts = [int(c) for c in counts]
    return _in_batches(
        name, model, images, labels, counts, params, seed, lambda x, y: ITERATES[name](model, x, y, counts, params)
    )


def _in_batches(
    name: str,
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    strengths: list[float],
    params: AttackParams,
    seed: int,
    attack_batch: Callable[[Tensor, Tensor], list[Tensor]],
) -> list[Tensor]:
    """``attack_batch`` (one result per strength) over seeded batches, concatenated per strength."""
    check_images(images)
    n_batches = -(-len(images) // params.batch_size)
    strongest = max(strengths)
    label = ", ".join(f"{s:g}" for s in strengths)
    with (
        frozen(model),
        full_float32(model_device(model)),
        passes_bar(
            model,
            n_batches * expected_passes(name, strongest, params),
            f"{ATTACKS[name].display} {label}, {len(images)} images",
        ),
    ):
        return _seeded_batches(model, images, labels, params.batch_size, seed, attack_batch, Tensor.cpu)


def _seeded_batches(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    seed: int,
    attack_batch: Callable[[Tensor, Tensor], list[Tensor]],
    keep: Callable[[Tensor], Tensor],
) -> list[Tensor]:
    """``attack_batch`` on each batch of ``images`` moved to the model's device, the RNG seeded per
    batch (:func:`batch_seed`); each result passed through ``keep``, then concatenated per strength."""
    out = []
    for b, start in enumerate(range(0, len(images), batch_size)):
        torch.manual_seed(batch_seed(seed, b))
        x, y = on_device_of(model, images[start : start + batch_size], labels[start : start + batch_size])
        out.append([keep(t.detach()) for t in attack_batch(x, y)])
    return [torch.cat(column) for column in zip(*out)]


def attack_in_step(
    name: str, model: nn.Module, images: Tensor, labels: Tensor, strength: float, params: AttackParams = AttackParams()
) -> Tensor:
    """:func:`run_attack` inside a training step (adversarial training; the restorer's FGSM inputs,
    eq. 4 of the paper): the same seeded batches under the same guards, but the result stays on
    the model's device and the images are not read back to be checked (the training set was,
    when loaded) and no bar is shown, so a GPU step does not wait for the host here. Equal to
    :func:`run_attack`'s result, moved to the device."""
    check_strength(name, strength)
    if ATTACKS[name].strength == "iterations":
        strength = int(strength)
    fn = ATTACKS[name].fn

    def attack_batch(x: Tensor, y: Tensor) -> list[Tensor]:
        return [fn(model, x, y, strength, params)]

    with frozen(model), full_float32(model_device(model)):
        return _seeded_batches(model, images, labels, params.batch_size, 0, attack_batch, lambda t: t)[0]
