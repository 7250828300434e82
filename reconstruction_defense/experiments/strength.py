"""Figures 6-8: accuracy vs attack strength, without and with the defense."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config.profiles import Profile
from ..data.datasets import ImageSet
from ..evaluation.scoring import evaluate
from ..method.classifiers import DISPLAY, Classifier
from ..method.defense import ReconstructionDefense


def strength_table(
    classifier: Classifier,
    defense: ReconstructionDefense,
    test: ImageSet,
    profile: Profile,
    workdir: Path = Path("runs"),
) -> pd.DataFrame:
    """Figures 6-8's data: accuracy vs strength (eps for FGSM/BIM, iterations for DeepFool/C&W),
    without and with the defense, attacks made on the bare classifier."""
    eps = profile.sweeps.eps_grid(test.info.name)
    iterations = profile.sweeps.iteration_grid
    attacks = (
        [("clean", 0)]
        + [(a, e) for a in ("fgsm", "bim") for e in eps]
        + [(a, i) for a in ("deepfool", "cw") for i in iterations]
    )
    return evaluate(
        classifier,
        test,
        attacks,
        {"none": None, "defense": defense},
        model_name=DISPLAY[classifier.arch],
        params=profile.attacks,
        cache_dir=Path(workdir) / "adversarial",
        seed=profile.seed,
    )
