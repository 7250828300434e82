"""Which attack code a result row rests on: per row, the registered attacks its label names and
their code versions (:class:`~reconstruction_defense.attacks.registry.AttackInfo.version`),
recorded as the ``attack_code`` column of every results table."""

from __future__ import annotations

import re

import pandas as pd
from torch import nn

from ..data.weights import weights_ids
from .registry import ATTACKS

PROVENANCE = ("models", "attack_code")  # the columns that say what a row was made with


def attacks_named(label: str) -> list[str]:
    """The registered attacks a table row's attack label names, by key (``"pgd x2 (cascade)"`` ->
    pgd) or as a whole display name (``"C&W-L2"`` -> cw); none for ``"clean"``, ``"worst case"``
    or a transfer."""
    by_display = [key for key, info in ATTACKS.items() if info.display == label]
    return by_display or [word for word in re.findall(r"[a-z_]+", label) if word in ATTACKS]


def attack_code(labels: pd.Series) -> pd.Series:
    """Per row, the code versions its attack label rests on (``"bim v2"``; several joined by
    ``", "``): a row naming attacks gets theirs, a clean row or one without a label none (``""``), and a row that names
    none but is not clean (a worst case, a transfer) every attack the table's labels name. The
    column ``attack_code`` that every results table carries, so a row made by an older attack is
    found (:func:`~reconstruction_defense.reporting.provenance.stale_rows`)."""
    everything = sorted({a for label in labels.dropna() for a in attacks_named(str(label))})

    def code(label: object) -> str:
        if pd.isna(label):  # a row about no attack (a check of the whole table, say)
            return ""
        named = sorted(set(attacks_named(str(label)))) or ([] if label == "clean" else everything)
        return ", ".join(f"{a} v{ATTACKS[a].version}" for a in named)

    return labels.map(code)


def with_provenance(table: pd.DataFrame, *models: nn.Module | None) -> pd.DataFrame:
    """``table`` with its provenance columns: ``attack_code`` (:func:`attack_code` of its
    ``attack`` column) and, when ``models`` are given, ``models``: the shipped weights of every
    trained model among them (:func:`~reconstruction_defense.data.weights.weights_ids`), the same
    on every row, unless the table already records it per row."""
    table = table.assign(attack_code=attack_code(table.attack) if len(table) else pd.Series(dtype=str))
    if models and "models" not in table:
        table = table.assign(models=weights_ids(*models))
    return table
