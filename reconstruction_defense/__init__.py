"""reconstruction_defense: pixel-depth reduction + EDSR-style restoration as an adversarial
defense (Zhang, Xu, Pei, Yang), with the attacks and evaluation to test it honestly."""
from .attacks import ATTACKS, AttackParams, run_attack
from .data import DataNotFoundError, ImageSet, load_dataset
from .defense import Defended, ReconstructionDefense
from .evaluate import evaluate, wilson_interval
from .models import Restorer, build_classifier
from .profiles import PROFILES, Profile, get_profile
from .quantize import Quantizer, quantize

__version__ = "0.1.0"
__all__ = ["ATTACKS", "AttackParams", "DataNotFoundError", "Defended", "ImageSet", "PROFILES",
           "Profile", "Quantizer", "ReconstructionDefense", "Restorer", "build_classifier",
           "evaluate", "get_profile", "load_dataset", "quantize", "run_attack", "wilson_interval"]
