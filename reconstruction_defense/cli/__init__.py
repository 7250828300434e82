"""The commands, the top layer: ``run``, ``rerun``, ``precompute`` and ``report``, each a module
with a ``main`` (``python -m reconstruction_defense.cli.run``), all under ``recdef``
(:mod:`.recdef`; also ``python -m reconstruction_defense.cli``), sharing their options and
error handling (:mod:`.common`).

May import every layer below; nothing imports it."""
