"""Headline results as JSON others can compare with (RobustBench-like; the shape is
``schema/result.schema.json``): one file per model x dataset x protocol, with its clean and
robust accuracies, the attack budget, the number of images, 95 % intervals, the profile, the
digests of the checkpoints that produced it and the software versions."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import torchattacks
from torch import nn

from ..config import __version__
from ..config.attack_params import AttackParams
from ..data.checkpoints import model_digest
from ..data.outputs import atomic_write

PROTOCOLS = {"undefended": "worst case", "paper": "bim", "adaptive": "worst case"}  # -> the result's row


def result_entries(
    table: pd.DataFrame, profile_name: str, params: AttackParams, checkpoints: dict[str, nn.Module], defense: str
) -> list[dict]:
    """One entry per protocol from one dataset's :func:`~reconstruction_defense.evaluation.adaptive.adaptive_table`."""
    versions = {
        "reconstruction_defense": __version__,
        "torch": torch.__version__,
        "torchattacks": torchattacks.__version__,
    }
    entries = []
    for protocol, result_row in PROTOCOLS.items():
        rows = table[table.threat == protocol]
        clean = rows[rows.attack == "clean"].iloc[0]
        robust = rows[(rows.attack == result_row) & (rows.eps > 0)].sort_values("eps")
        attacks = (
            list(robust.attack.unique())
            if result_row != "worst case"
            else [a for a in rows.attack.unique() if a not in ("clean", "worst case")]
        )
        entries.append(
            {
                "schema_version": 1,
                "dataset": clean.dataset,
                "model": clean.model,
                "defense": "none" if protocol == "undefended" else defense,
                "threat_model": "Linf",
                "protocol": protocol,
                "attacks": attacks,
                "attack_budget": {k: v for k, v in asdict(params).items() if isinstance(v, (int, float))},
                "n": int(clean.n),
                "clean_accuracy": float(clean.accuracy),
                "robust": [
                    {"eps": float(r.eps), "accuracy": float(r.accuracy), "ci95": [float(r.ci_low), float(r.ci_high)]}
                    for r in robust.itertuples()
                ],
                "profile": profile_name,
                "checkpoints": {name: model_digest(model) for name, model in checkpoints.items()},
                "versions": versions,
            }
        )
    return entries


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_entries(entries: list[dict], folder: Path) -> list[Path]:
    """Each entry as ``<dataset>_<model>_<protocol>.json`` under ``folder`` (atomically)."""
    paths = []
    for entry in entries:
        path = Path(folder) / f"{_slug(entry['dataset'])}_{_slug(entry['model'])}_{entry['protocol']}.json"
        atomic_write(path, (json.dumps(entry, indent=1) + "\n").encode())
        paths.append(path)
    return paths
