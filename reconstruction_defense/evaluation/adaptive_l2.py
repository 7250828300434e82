"""Minimal-perturbation L2 evaluation beside the L-inf one of :mod:`.adaptive`: how large an L2
perturbation each attack needs against the bare classifier and the defended pipeline, and the
per-image smallest over attacks of different families."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from ..attacks.versions import with_provenance
from ..config.attack_params import AttackParams
from ..data.datasets import ImageSet
from ..method.defense import ReconstructionDefense
from .adaptive import accuracy_row, bpda_pipeline
from .scoring import adversarial_examples, predict

L2_ATTACKS = ("cw", "deepfool", "ddn")  # minimal-norm L2 attacks of three families


def _needed_l2(scored: nn.Module, x: Tensor, y: Tensor, adv: Tensor) -> Tensor:
    """Per image, the L2 norm at which ``adv`` fools ``scored``: infinite where it does not."""
    return torch.where(predict(scored, adv) != y, (adv - x).flatten(1).norm(dim=1), float("inf"))


def _l2_rows(
    test: ImageSet,
    model_name: str,
    threat: str,
    attack: str,
    needed: Tensor,
    clean_right: Tensor,
    radii: tuple[float, ...],
) -> list[dict]:
    median = float(needed[clean_right].median()) if clean_right.any() else float("nan")
    needed = torch.where(clean_right, needed, 0.0)  # a clean mistake needs no perturbation
    rows = []
    for r in radii:
        row = accuracy_row(test, model_name, threat, attack, 0.0, needed > r)
        del row["eps"]
        rows.append({**row, "l2": r, "median_l2": median})
    return rows


def l2_table(
    classifier: nn.Module,
    defense: ReconstructionDefense,
    test: ImageSet,
    steps: int,
    radii: tuple[float, ...],
    params: AttackParams,
    cache_dir: Path,
    seed: int = 0,
    model_name: str = "model",
) -> pd.DataFrame:
    """Minimal-perturbation L2 attacks of three families: C&W-L2 (Carlini & Wagner 2017) with
    ``steps`` iterations per search step, DeepFool with ``steps`` steps, and DDN (Rony et al. 2019)
    with as many gradient passes as C&W (``steps`` x ``cw_search_steps``). Each is made on the
    bare classifier and scored without the defense (``undefended``) and through it (``paper``,
    the paper's protocol), and made through BPDA on the whole pipeline (``adaptive``). Per image,
    the L2 norm that fools the scored model (0 if the clean image is already wrong, infinite if
    the attack failed) gives the accuracy at every radius in ``radii``; the ``worst case`` row of
    a threat takes per image the smallest norm over the three attacks. ``median_l2`` is the median
    over the images the scored model gets right when clean (over all images it would read 0 as
    soon as half are misclassified, as on a weak CIFAR-10 model)."""
    pipeline = bpda_pipeline(defense, classifier)
    x, y = test.images, test.labels
    bare_cache, bpda_cache = Path(cache_dir), Path(cache_dir) / f"bpda-k{defense.quantizer.k}"
    threats = {
        "undefended": (classifier, classifier, bare_cache),
        "paper": (classifier, pipeline, bare_cache),
        "adaptive": (pipeline, pipeline, bpda_cache),
    }  # (attacked model, scored model, cache)
    budget = {"cw": steps, "deepfool": steps, "ddn": steps * params.cw_search_steps}
    rows = []
    for threat, (source, scored, folder) in threats.items():
        clean_right, worst = predict(scored, x) == y, torch.full((len(y),), float("inf"))
        for attack in L2_ATTACKS:
            adv = adversarial_examples(source, x, y, attack, budget[attack], params, folder, seed)
            needed = _needed_l2(scored, x, y, adv)
            worst = torch.minimum(worst, needed)
            rows += _l2_rows(test, model_name, threat, attack, needed, clean_right, radii)
        rows += _l2_rows(test, model_name, threat, "worst case", worst, clean_right, radii)
    return with_provenance(pd.DataFrame(rows), classifier, defense)
