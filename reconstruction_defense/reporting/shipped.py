"""The shipped models of the ``cpu`` profile as a table, from ``weights/cpu/manifest.json``
(:mod:`~reconstruction_defense.data.weights`): what each is, its size and training, and the
quality recorded when it was published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..data import weights
from .sections import markdown


def _quality(q: dict[str, Any]) -> str:
    if "clean_accuracy" in q:
        return f"{q['clean_accuracy']:.1%} [{q['ci_low']:.1%}, {q['ci_high']:.1%}] clean, test n={q['n']:,}"
    if "defended_fgsm" in q:
        return (
            f"defended {q['defended_clean']:.1%} clean, {q['defended_fgsm']:.1%} FGSM; "
            f"PSNR {q['psnr_clean']:.1f} dB; validation n={q['n']:,}"
        )
    if "bits_per_dim" in q:
        return f"{q['bits_per_dim']:.3f} bits/dim, validation n={q['n']:,}"
    return f"PSNR {q['psnr_clean']:.1f} dB, validation n={q['n']:,}"


def weights_section(results: Path, profile: str = "cpu") -> str:
    """One row per shipped model of ``profile`` and a total line (``results`` is not read: the
    table comes from the weights manifest)."""
    models = weights.read_manifest(weights.weights_root() / profile)
    if not models:
        raise FileNotFoundError(f"no shipped {profile} weights: `recdef train --profile {profile}` makes them")
    rows = [
        {
            "dataset": e["dataset"],
            "model": e["arch"],
            "role": e["role"].replace(": ", ", "),
            "parameters": f"{e['parameters']:,}",
            "MB": f"{e['bytes'] / 1e6:.2f}",
            "epochs": e["epochs"],
            "training": f"{e['train_seconds'] / 60:.1f} min",
            "trained on": f"{e['trained_with']['cpu_kernels']}, {e['trained_with']['threads']} threads",
            "quality": _quality(e["quality"]),
            "sha256": f"`{e['sha256'][:12]}`",
        }
        for e in models.values()
    ]
    total = sum(e["bytes"] for e in models.values()) / 1e6
    minutes = sum(e["train_seconds"] for e in models.values()) / 60
    return (
        markdown(pd.DataFrame(rows))
        + f"\n\n{len(rows)} models, {total:.1f} MB, {minutes:.0f} min of training on 2 CPU cores "
        + f"(torch {next(iter(models.values()))['trained_with']['torch']})."
    )
