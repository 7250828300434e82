"""Networks: the EDSR-style restorer and the classifiers."""
from .classifiers import CLASSIFIERS, PAPER_TO_STANDIN, build_classifier
from .restorer import Restorer

__all__ = ["CLASSIFIERS", "PAPER_TO_STANDIN", "Restorer", "build_classifier"]
