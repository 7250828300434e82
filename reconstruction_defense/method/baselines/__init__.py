"""The defenses Table 4 of Zhang et al. compares against, behind the same interface as ours:
each preprocessor is an ``nn.Module`` mapping images in [0, 1] to images in [0, 1], to be put in
front of an unmodified classifier (adversarial training, a classifier, lives in ``training/loops.py``)."""

from .comdefend import ComDefend
from .jpeg import JPEGCompression
from .pixeldefend import PixelCNN, PixelDefend
from .squeeze import FeatureSqueezing, MedianFilter, SqueezeDetector, median_smooth

__all__ = [
    "ComDefend",
    "FeatureSqueezing",
    "JPEGCompression",
    "MedianFilter",
    "PixelCNN",
    "PixelDefend",
    "SqueezeDetector",
    "median_smooth",
]
