"""Checks that an attack did its job, each a table row with a verdict, so a weak attack shows up
as a failed check instead of as robustness."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from .attacks import AttackParams
from .data import ImageSet
from .evaluate import adversarial_examples, predict


def minimal_l2(model: nn.Module, test: ImageSet, attack: str, steps: int, params: AttackParams,
               cache_dir: Path | None = None, seed: int = 0) -> tuple[int, float, float]:
    """Over the images of ``test`` that ``model`` classifies right: how many, the success rate of
    a minimal-perturbation attack and its median L2 (an image it failed on counts as infinite)."""
    adv = adversarial_examples(model, test.images, test.labels, attack, steps, params, cache_dir, seed)
    right = predict(model, test.images) == test.labels
    fooled = predict(model, adv[right]) != test.labels[right]
    l2: Tensor = (adv - test.images)[right].flatten(1).norm(dim=1)
    return int(right.sum()), fooled.float().mean().item(), torch.where(fooled, l2, torch.inf).median().item()


def l2_convergence(model: nn.Module, test: ImageSet, params: AttackParams, cw_steps: int,
                   deepfool_steps: int, cache_dir: Path | None = None, seed: int = 0,
                   slack: float = 1.05) -> pd.DataFrame:
    """C&W-L2 minimizes the perturbation that DeepFool only linearizes towards (Carlini & Wagner
    2017, Section 6), so unbounded on the bare classifier it must fool every image with a median
    L2 at most ``slack`` x DeepFool's (over the images the model classifies right); otherwise its schedule has not converged and every number
    resting on it is an overstatement of robustness."""
    rows = []
    for attack, steps in (("deepfool", deepfool_steps), ("cw", cw_steps)):
        n, success, median = minimal_l2(model, test, attack, steps, params, cache_dir, seed)
        rows.append({"dataset": test.info.display_name, "attack": attack, "iterations": steps,
                     "n": n, "success": success, "median_l2": median})
    table = pd.DataFrame(rows)
    deepfool, cw = table.median_l2
    table["passed"] = [True, bool(table.success.iloc[1] == 1.0 and cw <= slack * deepfool)]
    return table
