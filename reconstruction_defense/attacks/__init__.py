"""The attacks: the registry (:mod:`.registry`: FGSM, BIM, DeepFool, C&W-L2 and the adaptive
ones, each with its code version), the minimal-perturbation attacks (:mod:`.minimal`: C&W,
DeepFool, DDN) and the attacks that search the quantizer's levels (:mod:`.quantizer`).

May import :mod:`..method`, :mod:`..data` and :mod:`..config`."""
