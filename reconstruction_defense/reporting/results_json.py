"""Headline results as JSON others can compare with (RobustBench-like; the shape is
``schema/result.schema.json``): one file per model x dataset x protocol (undefended, the paper's
protocol, the adaptive worst case, exact where computed), with its clean and robust accuracies,
the attack budget, the number of images, 95 % intervals, the profile, the digests of the weights
that produced it (the shipped file's sha256, as in ``weights/<profile>/manifest.json``) and the
software versions."""

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


def weights_digest(model: nn.Module) -> str:
    """sha256 of the shipped weights file ``model`` was loaded from (its manifest entry), or of
    its state for a model trained locally (a digest no manifest holds)."""
    shipped = getattr(model, "shipped", None)
    return shipped["sha256"] if shipped else model_digest(model)


def _record(
    dataset: str,
    model: str,
    defense: str,
    protocol: str,
    profile_name: str,
    checkpoints: dict[str, nn.Module],
    **measured,
) -> dict:
    """The frame every record shares (schema, what was evaluated, provenance: the profile, the
    weights' digests, the versions) around ``measured``: attacks, attack_budget, n, clean_accuracy
    and robust."""
    return {
        "schema_version": 1,
        "dataset": dataset,
        "model": model,
        "defense": defense,
        "threat_model": "Linf",
        "protocol": protocol,
        **measured,
        "profile": profile_name,
        "checkpoints": {name: weights_digest(m) for name, m in checkpoints.items()},
        "versions": {
            "reconstruction_defense": __version__,
            "torch": torch.__version__,
            "torchattacks": torchattacks.__version__,
        },
    }


def result_entries(
    table: pd.DataFrame, profile_name: str, params: AttackParams, checkpoints: dict[str, nn.Module], defense: str
) -> list[dict]:
    """One entry per protocol from one dataset's :func:`~reconstruction_defense.evaluation.adaptive.adaptive_table`."""
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
            _record(
                clean.dataset,
                clean.model,
                "none" if protocol == "undefended" else defense,
                protocol,
                profile_name,
                checkpoints,
                attacks=attacks,
                attack_budget={k: v for k, v in asdict(params).items() if isinstance(v, (int, float))},
                n=int(clean.n),
                clean_accuracy=float(clean.accuracy),
                robust=[
                    {"eps": float(r.eps), "accuracy": float(r.accuracy), "ci95": [float(r.ci_low), float(r.ci_high)]}
                    for r in robust.itertuples()
                ],
            )
        )
    return entries


def exact_entries(
    per_image: pd.DataFrame,
    summary: pd.DataFrame,
    exact: dict[str, int],
    profile_name: str,
    model: str,
    checkpoints: dict[str, nn.Module],
    defense: str,
) -> list[dict]:
    """One ``exact`` entry per dataset of notebook 08's
    :func:`~reconstruction_defense.experiments.exact_evaluation.exact_summary`: per eps the
    proven robust share as the accuracy, ``bounds`` [proven, proven + undecided] within which the
    true robust accuracy lies, and the 95 % interval around both; the clean accuracy of the
    deployed defense on the same images (``per_image.clean_correct``)."""
    entries = []
    for dataset, rows in summary.groupby("dataset", sort=False):
        images = per_image[(per_image.dataset == dataset) & (per_image.eps == rows.eps.iloc[0])]
        entries.append(
            _record(
                dataset,
                model,
                defense,
                "exact",
                profile_name,
                checkpoints,
                attacks=["exact search over the reachable quantized images"],
                attack_budget={k: float(v) for k, v in exact.items()},
                n=int(rows.n.iloc[0]),
                clean_accuracy=float(images.clean_correct.mean()),
                robust=[
                    {
                        "eps": float(r.eps),
                        "accuracy": float(r.exact_low),
                        "ci95": [float(r.ci_low), float(r.ci_high)],
                        "bounds": [float(r.exact_low), float(r.exact_high)],
                    }
                    for r in rows.itertuples()
                ],
            )
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
