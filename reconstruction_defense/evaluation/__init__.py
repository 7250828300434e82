"""Evaluation: accuracy with Wilson intervals and the attack cache (:mod:`.scoring`), the
adaptive cascade (:mod:`.adaptive`), minimal-norm L2 tables (:mod:`.adaptive_l2`), the sanity
checks of an adaptive evaluation (:mod:`.checks`) and exact evaluation (:mod:`.exact`).

May import :mod:`..attacks`, :mod:`..method`, :mod:`..data` and :mod:`..config`; never
:mod:`..training` or :mod:`..reporting`, its siblings."""
