"""The explorer notebook's one step: attack, quantize, restore a batch and score every stage."""

from __future__ import annotations

from pathlib import Path

from ..config.attack_params import AttackParams
from ..config.profiles import Profile, get_profile
from ..evaluation.scoring import adversarial_examples, predict, transform
from ..method.quantize import quantize
from ..training.zoo import ModelsAndData, NotCached, load_only, train_or_load


def explorer_models(
    dataset: str, preferred: tuple[str, ...], data_root: str | None, workdir: Path, device: str | None = None
) -> tuple[ModelsAndData, Profile, str]:
    """The models the explorer shows for ``dataset``: those of the first profile in ``preferred``
    whose trained classifier and restorer are shipped (``weights/``) or already cached, else
    ``smoke``-size ones trained on the spot (a minute); with a note saying which."""
    for name in preferred:
        profile = get_profile(name, device=device)
        try:
            with load_only():
                models = train_or_load(dataset, profile, data_root, workdir)
            return models, profile, f"{dataset}: the {name} profile's shipped or cached models"
        except NotCached:
            continue
    profile = get_profile("smoke", device=device)
    note = (
        f"{dataset}: no shipped or cached {' or '.join(preferred)} models, so smoke-size ones trained here "
        f"(`recdef train --profile {preferred[0]}` makes the real ones)"
        if preferred
        else f"{dataset}: smoke-size models"
    )
    return train_or_load(dataset, profile, data_root, workdir), profile, note


def explore(
    models: ModelsAndData, attack: str, strength: float, k: int, n: int = 64, params: AttackParams = AttackParams()
) -> dict:
    """``n`` test images attacked on the bare classifier, quantized to ``k`` levels, restored;
    images and the classifier's accuracy at each stage."""
    shown = models.test.sample(n)  # CIFAR-10's first images are all airplanes
    x, y = shown.images, shown.labels
    adv = adversarial_examples(models.classifier, x, y, attack, strength, params)
    quantized = quantize(adv, k)
    restored = transform(models.defense.restorer, quantized)
    stages = {"clean": x, "adversarial": adv, "quantized": quantized, "restored": restored}
    preds = {name: predict(models.classifier, images) for name, images in stages.items()}
    return {
        "images": stages,
        "predictions": preds,
        "accuracy": {name: (p == y).float().mean().item() for name, p in preds.items()},
    }
