"""The paper's method: the quantizer (:mod:`.quantize`), the EDSR-style restorer
(:mod:`.restorer`), the classifiers (:mod:`.classifiers`), the defense that chains them in front
of a classifier (:mod:`.defense`), and the defenses Table 4 compares it with (:mod:`.baselines`).

May import :mod:`..data` and :mod:`..config` only."""

from .classifiers import CLASSIFIERS, PAPER_TO_STANDIN, build_classifier
from .restorer import Restorer

__all__ = ["CLASSIFIERS", "PAPER_TO_STANDIN", "Restorer", "build_classifier"]
