"""The shipped models of a profile, from its manifest, each file checked against its digest:

    recdef weights --profile cpu              # the table; exit status 1 when a file is missing or altered
    recdef weights --profile cpu --verify     # also re-measure every model's recorded quality

``--verify`` loads each shipped model of the series as the notebooks do (training nothing) and
measures its quality again
(:func:`~reconstruction_defense.experiments.series.quality`): on the CPU class it was trained on
the numbers must be equal; on another class (other float kernels) inside the recorded value's
95 % Wilson interval, PSNR within 0.05 dB, bits per dimension within 0.001.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..config.profiles import get_profile
from ..data import weights
from ..evaluation.scoring import wilson_interval
from ..experiments.series import DATASETS, quality, series_models
from ..training.zoo import NotCached, load_only
from .common import add_common_options, run_main

TOLERANCE = {"psnr_clean": 0.05, "bits_per_dim": 0.001}


def file_state(folder: Path, entry: dict[str, Any]) -> str:
    """``ok``, ``missing`` or ``altered`` (its bytes do not match the manifest's sha256)."""
    try:
        weights.verified_bytes(folder / entry["file"], entry)
    except weights.WeightsError as err:
        return "missing" if "missing" in str(err) else "altered"
    return "ok"


def manifest_table(folder: Path) -> pd.DataFrame:
    """One row per shipped model: what it is, its size and training, its quality, its file state."""
    rows = []
    for name, e in weights.read_manifest(folder).items():
        measured = {k: v for k, v in e.get("quality", {}).items() if k not in ("split", "n", "ci_low", "ci_high")}
        rows.append(
            {
                "model": name,
                "role": e["role"],
                "parameters": e["parameters"],
                "MB": round(e["bytes"] / 1e6, 2),
                "epochs": e["epochs"],
                "train_s": e["train_seconds"],
                "trained_on": f"{e['trained_with']['cpu_kernels']}, torch {e['trained_with']['torch']}",
                "quality": ", ".join(f"{k} {v:.4g}" for k, v in measured.items())
                + f" ({e['quality']['split']}, n={e['quality']['n']})",
                "file": file_state(folder, e),
            }
        )
    return pd.DataFrame(rows)


def agrees(field: str, recorded: float, measured: float, n: int, same_cpu: bool) -> bool:
    """Whether a re-measured quality agrees with the manifest (see the module docstring)."""
    if same_cpu:
        return measured == recorded
    if field in TOLERANCE:
        return abs(measured - recorded) <= TOLERANCE[field]
    low, high = wilson_interval(round(recorded * n), n)
    return low <= measured <= high


def verify(profile_name: str, data_root: str | None, workdir: Path) -> pd.DataFrame:
    """Every shipped model of the series re-measured against its manifest entry."""
    profile, rows = get_profile(profile_name), []
    for model in series_models(profile, DATASETS, data_root, workdir):
        try:
            with load_only():  # re-measure, never train: a model not shipped is skipped
                made = model.make()
        except NotCached:
            continue
        entry = model.published(made).shipped
        if entry is None:
            continue
        same_cpu = entry["trained_with"]["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
        recorded, measured = entry["quality"], quality(model, made, profile, data_root)
        for field in (k for k in recorded if k not in ("split", "n", "ci_low", "ci_high")):
            ok = agrees(field, recorded[field], measured[field], recorded["n"], same_cpu)
            rows.append(
                {
                    "model": f"{model.dataset} {model.label}",
                    "quality": field,
                    "manifest": recorded[field],
                    "measured": measured[field],
                    "rule": "equal (same CPU class)" if same_cpu else "inside the interval (other CPU class)",
                    "agrees": ok,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--verify", action="store_true", help="re-measure every shipped model's quality (slow)")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument("--workdir", default="runs", type=Path, help="the local checkpoint cache")
    args = parser.parse_args(argv)
    name = get_profile(args.profile).name
    folder = weights.weights_root() / name
    table = manifest_table(folder)
    if table.empty:
        raise FileNotFoundError(f"no shipped weights in {folder}; `recdef train --profile {name}` makes them")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 80)
    print(table.to_string(index=False))
    bad = table[table.file != "ok"]
    if len(bad):
        print(
            f"\n{len(bad)} file(s) missing or altered: {', '.join(bad.model)}; restore with `git checkout -- {folder}`"
        )
        return 1
    if args.verify:
        checked = verify(name, args.data_root, args.workdir)
        print("\n" + checked.to_string(index=False))
        if not checked.agrees.all():
            print(f"\n{int((~checked.agrees).sum())} recorded quality value(s) not reproduced")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
