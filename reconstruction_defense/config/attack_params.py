"""The attacks' knobs other than their strength, apart from the registry (:mod:`..attacks.registry`), so
that profiles and the attack implementations can name them without importing the registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttackParams:
    """Knobs other than the strength. The defaults are the budgets we run on 2 cores (the ``cpu``
    profile uses them as they are); the ``paper`` profile raises PGD/APGD/Square to Croce & Hein's."""

    bim_steps: int = 10
    overshoot: float = 0.02  # DeepFool, as in Moosavi-Dezfooli et al. 2016
    deepfool_candidates: int | None = None  # classes linearized per step (with y); None = all
    cw_c: float = 1.0  # initial constant of the C&W binary search
    cw_kappa: float = 0.0
    cw_lr: float = 0.05
    cw_search_steps: int = 5
    cw_start: str = "deepfool"  # where C&W's first search step starts: "deepfool" or "image" (the original)
    pgd_steps: int = 20  # adaptive evaluation (notebook 06): PGD-Linf, step 2.5 eps / steps
    pgd_restarts: int = 1
    apgd_steps: int = 25
    square_queries: int = 200
    flip_steps: int = 20  # quantizer flip search: rounds, each moving 1/flip_steps of the movable pixels
    batch_size: int = 250  # images per attack batch; part of the adversarial-set cache key

    def __post_init__(self) -> None:
        if self.cw_start not in ("deepfool", "image"):
            raise ValueError(f"cw_start must be 'deepfool' or 'image' (the original C&W); got {self.cw_start!r}")
