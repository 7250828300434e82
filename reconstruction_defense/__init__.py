"""reconstruction_defense: pixel-depth reduction + EDSR-style restoration as an adversarial
defense (Zhang, Xu, Pei, Yang), with the attacks and evaluation to test it honestly."""

from .attacks.registry import ATTACKS, run_attack
from .config import __version__
from .config.attack_params import AttackParams
from .config.profiles import PROFILES, Profile, get_profile
from .data.datasets import DataNotFoundError, ImageSet, load_dataset
from .evaluation.scoring import evaluate, wilson_interval
from .method import Restorer, build_classifier
from .method.defense import Defended, ReconstructionDefense
from .method.quantize import Quantizer, quantize

__all__ = [
    "__version__",
    "ATTACKS",
    "AttackParams",
    "DataNotFoundError",
    "Defended",
    "ImageSet",
    "PROFILES",
    "Profile",
    "Quantizer",
    "ReconstructionDefense",
    "Restorer",
    "build_classifier",
    "evaluate",
    "get_profile",
    "load_dataset",
    "quantize",
    "run_attack",
    "wilson_interval",
]
