"""The explorer notebook's one step: attack, quantize, restore a batch and score every stage."""
from __future__ import annotations

from ..attacks import AttackParams
from ..evaluate import adversarial_examples, predict, transform
from ..quantize import quantize
from ..zoo import ModelsAndData


def explore(models: ModelsAndData, attack: str, strength: float, k: int, n: int = 64,
            params: AttackParams = AttackParams()) -> dict:
    """``n`` test images attacked on the bare classifier, quantized to ``k`` levels, restored;
    images and the classifier's accuracy at each stage."""
    x, y = models.test.images[:n], models.test.labels[:n]
    adv = adversarial_examples(models.classifier, x, y, attack, strength, params)
    quantized = quantize(adv, k)
    restored = transform(models.defense.restorer, quantized)
    stages = {"clean": x, "adversarial": adv, "quantized": quantized, "restored": restored}
    preds = {name: predict(models.classifier, images) for name, images in stages.items()}
    return {"images": stages, "predictions": preds,
            "accuracy": {name: (p == y).float().mean().item() for name, p in preds.items()}}
