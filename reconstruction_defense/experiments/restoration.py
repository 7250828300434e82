"""Figure 5: one test image through the pipeline under each of the paper's attacks."""

from __future__ import annotations

from pathlib import Path

from ..attacks.registry import display_name
from ..config.profiles import Profile
from ..data.datasets import ImageSet
from ..evaluation.scoring import adversarial_examples, predict, transform
from ..method.classifiers import Classifier
from ..method.defense import ReconstructionDefense
from ..method.quantize import quantize
from .transfer import table_strengths


def pipeline_examples(
    classifier: Classifier,
    defense: ReconstructionDefense,
    test: ImageSet,
    profile: Profile,
    workdir: Path = Path("runs"),
    index: int = 0,
) -> dict:
    """Figure 5's data for one test image: per attack (at the table strength), the clean,
    adversarial, quantized and restored images and the classifier's prediction on each."""
    strengths = table_strengths(profile, test.info.name)
    x, y = test.images[index : index + 1], test.labels[index : index + 1]
    rows: dict[str, list] = {"clean": [], "adversarial": [], "quantized": [], "restored": []}
    preds: dict[str, list] = {name: [] for name in rows}
    for attack, strength in strengths.items():
        adv = adversarial_examples(
            classifier, x, y, attack, strength, profile.attacks, Path(workdir) / "adversarial", profile.seed
        )
        quantized = quantize(adv, defense.quantizer.k)
        restored = transform(defense, adv)
        for name, image in zip(rows, (x, adv, quantized, restored)):
            rows[name].append(image[0])
            preds[name].append(test.info.classes[int(predict(classifier, image)[0])])
    return {
        "rows": rows,
        "predictions": preds,
        "label": test.info.classes[int(y[0])],
        "columns": [display_name(a) for a in strengths],
    }
