"""Figure 3: accuracy of the undefended classifier on k-level quantized clean and FGSM images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config.profiles import Profile
from ..data.datasets import ImageSet
from ..evaluation.scoring import evaluate
from ..method.classifiers import DISPLAY, Classifier
from ..method.quantize import Quantizer


def pixel_depth_table(
    classifier: Classifier, test: ImageSet, profile: Profile, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Figure 3's data: the undefended classifier on k-level quantized clean and FGSM images,
    for every k of the profile's grid and every eps of its sweep (no restorer)."""
    attacks = [("clean", 0)] + [("fgsm", e) for e in profile.sweeps.eps_grid(test.info.name) if e > 0]
    return evaluate(
        classifier,
        test,
        attacks,
        {f"k={k}": Quantizer(k) for k in profile.sweeps.k_grid},
        model_name=DISPLAY[classifier.arch],
        params=profile.attacks,
        cache_dir=Path(workdir) / "adversarial",
        seed=profile.seed,
    )
