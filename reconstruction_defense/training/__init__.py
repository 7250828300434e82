"""Training: the loops (:mod:`.loops`, torch.distributed-aware), the recipes (:mod:`.recipe`)
and the model zoo that trains or loads each checkpoint a profile names (:mod:`.zoo`).

May import :mod:`..attacks` (adversarial training), :mod:`..method`, :mod:`..data` and
:mod:`..config`; never :mod:`..evaluation` or :mod:`..reporting`, its siblings."""
