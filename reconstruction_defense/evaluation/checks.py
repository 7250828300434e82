"""Checks that an attack did its job, each a table row with a verdict, so a weak attack or a
masked gradient shows up as a failed check instead of as robustness."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from ..attacks.versions import attack_code, with_provenance
from ..config.attack_params import AttackParams
from ..data.datasets import ImageSet
from ..data.weights import weights_ids
from ..method.defense import ReconstructionDefense
from .adaptive import bpda_pipeline, doubled
from .scoring import adversarial_examples, predict


def minimal_l2(
    model: nn.Module,
    test: ImageSet,
    attack: str,
    steps: int,
    params: AttackParams,
    cache_dir: Path | None = None,
    seed: int = 0,
) -> tuple[int, float, float]:
    """Over the images of ``test`` that ``model`` classifies right: how many, the success rate of
    a minimal-perturbation attack and its median L2 (an image it failed on counts as infinite)."""
    adv = adversarial_examples(model, test.images, test.labels, attack, steps, params, cache_dir, seed)
    right = predict(model, test.images) == test.labels
    fooled = predict(model, adv[right]) != test.labels[right]
    l2: Tensor = (adv - test.images)[right].flatten(1).norm(dim=1)
    return int(right.sum()), fooled.float().mean().item(), torch.where(fooled, l2, torch.inf).median().item()


def l2_convergence(
    model: nn.Module,
    test: ImageSet,
    params: AttackParams,
    cw_steps: int,
    deepfool_steps: int,
    cache_dir: Path | None = None,
    seed: int = 0,
    slack: float = 1.05,
) -> pd.DataFrame:
    """C&W-L2 minimizes the perturbation that DeepFool only linearizes towards (Carlini & Wagner
    2017, Section 6), so unbounded on the bare classifier it must fool every image with a median
    L2 at most ``slack`` x DeepFool's (over the images the model classifies right); otherwise its
    schedule has not converged and every number resting on it is an overstatement of robustness."""
    rows = []
    for attack, steps in (("deepfool", deepfool_steps), ("cw", cw_steps)):
        n, success, median = minimal_l2(model, test, attack, steps, params, cache_dir, seed)
        rows.append(
            {
                "dataset": test.info.display_name,
                "attack": attack,
                "iterations": steps,
                "n": n,
                "success": success,
                "median_l2": median,
            }
        )
    table = with_provenance(pd.DataFrame(rows), model)
    deepfool, cw = table.median_l2
    table["passed"] = [True, bool(table.success.iloc[1] == 1.0 and cw <= slack * deepfool)]
    return table


def everything_reachable_eps(k: int) -> float:
    """The L-inf budget at which any k-level quantized image can be reached from any image: the
    ball then holds, for every pixel, values on both sides of the lowest and the highest rounding
    threshold (0.5 / (k - 1) and 1 - 0.5 / (k - 1)); 0.01 more steps past the tie, which
    ``torch.round`` sends to the even level. k = 2: 0.51, k = 4: 0.843, k = 8: 0.939."""
    return round(1 - 0.5 / (k - 1) + 0.01, 3)


def reaches_zero(
    pipeline: nn.Module,
    test: ImageSet,
    k: int,
    params: AttackParams,
    cache_dir: Path | None = None,
    seed: int = 0,
    at_most: float = 0.05,
) -> pd.DataFrame:
    """Carlini et al. (2019): with a budget that lets the attacker reach every quantized image,
    BIM through ``pipeline`` (BPDA) must bring accuracy to about 0; if it does not, the attack or
    its gradient is broken (masking), and every smaller-eps number is in doubt. BIM, not PGD:
    in a ball this large PGD's random start alone lowers accuracy, gradient or not (with the
    gradient zeroed, on the smoke models: Fashion-MNIST 72 % -> 54 %, CIFAR-10 23 % -> 10 %)."""
    eps = everything_reachable_eps(k)
    adv = adversarial_examples(pipeline, test.images, test.labels, "bim", eps, params, cache_dir, seed)
    accuracy = (predict(pipeline, adv) == test.labels).float().mean().item()
    return pd.DataFrame(
        [
            {
                "check": f"defended accuracy reaches about 0 at eps {eps:g}, where every {k}-level image is reachable",
                "passed": accuracy <= at_most,
                "detail": f"BIM through BPDA leaves {accuracy:.1%} of {len(test)} images",
                "models": weights_ids(pipeline),
            }
        ]
    )


GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd_ce", "apgd_dlr")  # through BPDA; PGD and the flip search
# also through the straight-through clamp


def gradient_survivors(
    defense: ReconstructionDefense,
    classifier: nn.Module,
    test: ImageSet,
    eps: float,
    params: AttackParams,
    cache_dir: Path | None = None,
    seed: int = 0,
) -> Tensor:
    """Per image of ``test``, whether the deployed pipeline still classifies it right after every
    gradient-based attack of the adaptive evaluation (each run on all of ``test``)."""
    bpda, clamp = bpda_pipeline(defense, classifier), bpda_pipeline(defense, classifier, through_clamp=True)
    runs = [(bpda, a) for a in GRADIENT_ATTACKS] + [(clamp, "pgd"), (clamp, "flip")]
    robust = torch.ones(len(test), dtype=torch.bool)
    for model, attack in runs:
        adv = adversarial_examples(model, test.images, test.labels, attack, eps, params, cache_dir, seed)
        robust &= predict(bpda, adv) == test.labels
    return robust


def square_finds_nothing_new(
    defense: ReconstructionDefense,
    classifier: nn.Module,
    test: ImageSet,
    eps: float,
    params: AttackParams,
    cache_dir: Path | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Carlini et al. (2019), Athalye et al. (2018): a gradient-free attack run on its own, with
    the profile's full query budget (``params.square_queries``), on the same images as every
    gradient attack. Each image it breaks that all the gradient attacks left correct is a finding,
    not a tolerance: the row counts them (``square_only``) and passes only when there is none;
    with any, the gradient attacks are incomplete there (masked or weak) and the gradient worst
    case is an upper bound by at least that many images."""
    robust = gradient_survivors(defense, classifier, test, eps, params, cache_dir, seed)
    pipeline = bpda_pipeline(defense, classifier)
    adv = adversarial_examples(pipeline, test.images, test.labels, "square", eps, params, cache_dir, seed)
    square = predict(pipeline, adv) == test.labels
    missed = int((robust & ~square).sum())
    return pd.DataFrame(
        [
            {
                "check": f"Square alone ({params.square_queries} queries) breaks no image every gradient attack "
                f"missed, eps {eps:g}",
                "passed": missed == 0,
                "square_only": missed,
                "n": len(test),
                "detail": f"on {len(test)} images: gradient attacks leave {robust.float().mean():.1%}, Square alone "
                f"{square.float().mean():.1%}; Square breaks {missed} ({missed / len(test):.1%}) "
                "that the gradient attacks left",
                "models": weights_ids(classifier, defense),
            }
        ]
    )


# each iterative attack beside a budget it must gain nothing from if it has converged: PGD with
# twice the steps and restarts, APGD at 4x its iterations (25 -> 100), Square at 5x its queries (200 -> 1,000)
STRONGER = {
    "pgd": doubled,
    "apgd_ce": lambda p: replace(p, apgd_steps=4 * p.apgd_steps),
    "apgd_dlr": lambda p: replace(p, apgd_steps=4 * p.apgd_steps),
    "square": lambda p: replace(p, square_queries=5 * p.square_queries),
}


def standalone_convergence(
    model: nn.Module,
    test: ImageSet,
    attack: str,
    eps: float,
    params: AttackParams,
    cache_dir: Path | None = None,
    seed: int = 0,
    tolerance: float = 0.001,
) -> pd.DataFrame:
    """Carlini et al. (2019): an iterative attack has converged when a larger budget
    (:data:`STRONGER`) breaks no more images. Judged on the attack alone, on all of ``test``,
    before a cascade folds it in (where a later stage could hide what it missed): the row passes
    when the stronger budget breaks at most ``tolerance`` of the images the attack left correct
    (1 in 1,000 by default: on fewer than 1,000 images, none)."""
    stronger = STRONGER[attack](params)
    correct = []
    for budget in (params, stronger):
        adv = adversarial_examples(model, test.images, test.labels, attack, eps, budget, cache_dir, seed)
        correct.append(predict(model, adv) == test.labels)
    more = int((correct[0] & ~correct[1]).sum())
    name = {"pgd": "steps and restarts x2", "square": "queries x5"}.get(attack, "iterations x4")
    return pd.DataFrame(
        [
            {
                "check": f"{attack} alone has converged: {name} breaks <= {tolerance:.1%} more, eps {eps:g}",
                "passed": more <= tolerance * len(test),
                "attack": attack,
                "eps": eps,
                "n": len(test),
                "accuracy": correct[0].float().mean().item(),
                "stronger_accuracy": correct[1].float().mean().item(),
                "more_broken": more,
                "attack_code": attack_code(pd.Series([attack])).item(),
                "detail": f"on {len(test)} images: {correct[0].float().mean():.1%} left, "
                f"{correct[1].float().mean():.1%} with the stronger budget, which breaks {more} more",
                "models": weights_ids(model),
            }
        ]
    )
