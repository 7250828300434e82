"""The JSON records of notebooks 06 and 08 (:mod:`~reconstruction_defense.reporting.results_json`):
one per dataset and protocol, naming the weights that produced it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config.profiles import Profile
from ..method.classifiers import DISPLAY
from ..reporting.results_json import exact_entries, result_entries
from ..training.zoo import train_or_load


def _defense_label(profile: Profile, dataset: str, k: int) -> str:
    cfg = profile.restorer.for_dataset(dataset)
    return f"k = {k} quantizer + restorer ({cfg.n_blocks} blocks x {cfg.n_feats} features)"


def headline_json(
    dataset: str, table: pd.DataFrame, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> list[dict]:
    """Notebook 06's records: one entry per protocol (undefended, the paper's, adaptive) from this
    dataset's adaptive table, with the digests of the classifier and restorer that produced it."""
    models = train_or_load(dataset, profile, data_root, workdir)
    return result_entries(
        table,
        profile.name,
        profile.attacks,
        {"classifier": models.classifier, "restorer": models.defense.restorer},
        _defense_label(profile, dataset, models.defense.quantizer.k),
    )


def exact_json(
    dataset: str,
    per_image: pd.DataFrame,
    summary: pd.DataFrame,
    profile: Profile,
    data_root: str | None = None,
    workdir: Path = Path("runs"),
) -> list[dict]:
    """Notebook 08's record for one dataset: the exact robust accuracy per eps (the ``exact``
    protocol), with the digests of the classifier and restorer it was computed on."""
    models = train_or_load(dataset, profile, data_root, workdir)
    mine = summary[summary.dataset == models.test.info.display_name]
    return exact_entries(
        per_image,
        mine,
        {"budget": profile.exact.budget, "probe": profile.exact.probe},
        profile.name,
        DISPLAY[profile.classifier.arch],
        {"classifier": models.classifier, "restorer": models.defense.restorer},
        _defense_label(profile, dataset, models.defense.quantizer.k),
    )
