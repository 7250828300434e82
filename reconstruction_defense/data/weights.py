"""Published weights: the trained models a profile's notebook series uses, shipped in the
repository as ``weights/<profile>/<model>.safetensors`` with one ``manifest.json`` saying what made
each file and how good it is (offline, the pattern of torchvision's weights API and RobustBench's
model zoo: a name, a digest checked on load, a recorded quality a test can re-measure).

A model's file is named like its cache checkpoint, ``<dataset>-<name>-<key>``, where the key is
the hash of everything that trained it (:func:`~reconstruction_defense.data.checkpoints.config_key`),
so the zoo finds a shipped model by the same name it would cache it under.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from .outputs import atomic_write

MANIFEST = "manifest.json"
FORMAT = 1
SAME = ("kind", "seed", "adversarial")  # what makes another model rather than another recipe of it
CANDIDATE = "candidate "  # a ``models`` tag for a model trained to be scored and discarded


class WeightsError(RuntimeError):
    """A shipped weights file cannot be used; the message names the file and the fix."""


def weights_root() -> Path:
    """Where the shipped weights live: ``$RECDEF_WEIGHTS``, else ``weights/`` beside the package."""
    env = os.environ.get("RECDEF_WEIGHTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "weights"


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """The manifest of ``folder`` (one profile's weights): model name -> entry; {} when none."""
    file = Path(folder) / MANIFEST
    if not file.exists():
        return {}
    try:
        record = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise WeightsError(f"{file} is not valid JSON ({err}); restore it with `git checkout -- {file}`") from None
    if record.get("format") != FORMAT:
        raise WeightsError(f"{file} is not a weights manifest of format {FORMAT}; restore it with `git checkout`")
    return record["models"]


def _write_manifest(folder: Path, models: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"format": FORMAT, "models": models}, indent=1, sort_keys=True, default=str) + "\n"
    atomic_write(Path(folder) / MANIFEST, text.encode())


def shipped(name: str, root: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The shipped file and manifest entry of model ``name`` in any profile's folder, or None."""
    for manifest in sorted((root or weights_root()).glob(f"*/{MANIFEST}")):
        entry = read_manifest(manifest.parent).get(name)
        if entry is not None:
            return manifest.parent / entry["file"], entry
    return None


def _fix(file: Path, entry: dict[str, Any]) -> str:
    return (
        f"restore it with `git checkout -- {file}`, or delete its entry from {file.parent / MANIFEST} "
        f"and run `recdef train --profile {entry['profile']} --dataset {entry['dataset_key']}` to retrain it"
    )


def verified_bytes(file: Path, entry: dict[str, Any]) -> bytes:
    """The bytes of shipped ``file``, checked against its manifest ``entry``'s sha256."""
    if not file.exists():
        raise WeightsError(f"shipped weights {file} are missing; {_fix(file, entry)}")
    blob = file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
        raise WeightsError(
            f"{file} does not match its sha256 in the manifest (altered or corrupt); {_fix(file, entry)}"
        )
    return blob


def load_shipped(file: Path, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of a shipped model, after its digest check."""
    return st_load(verified_bytes(file, entry))


def _file_bytes(state: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.detach().contiguous().cpu() for k, v in state.items()})


def publish(folder: Path, name: str, state: dict[str, torch.Tensor], entry: dict[str, Any]) -> dict[str, Any]:
    """Write ``state`` as ``<folder>/<name>.safetensors`` and its manifest ``entry`` (plus file,
    sha256 and bytes); the file first, the manifest last, each atomically."""
    folder = Path(folder)
    models = read_manifest(folder)
    if name in models:
        raise WeightsError(f"{name} is already shipped in {folder}; a published model is never re-published")
    blob = _file_bytes(state)
    atomic_write(folder / f"{name}.safetensors", blob)
    entry = {
        **entry,
        "file": f"{name}.safetensors",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
    }
    _write_manifest(folder, {**models, name: entry})
    return entry


def record_quality(folder: Path, name: str, quality: dict[str, Any]) -> None:
    """Set the measured ``quality`` of shipped model ``name`` in ``folder``'s manifest."""
    models = read_manifest(folder)
    _write_manifest(folder, {**models, name: {**models[name], "quality": quality}})


def nearest_other(name: str, config: dict[str, Any], root: Path | None = None) -> tuple[str, list[str]] | None:
    """The shipped model of the same dataset, name, kind, seed and adversarial training as
    ``name`` (another seed is another model, not a changed recipe) whose config differs from
    ``config`` in the fewest fields, with those fields; None when there is none."""
    prefix = name.rsplit("-", 1)[0] + "-"
    wanted = json.loads(json.dumps(config, default=str))
    best = None
    for manifest in sorted((root or weights_root()).glob(f"*/{MANIFEST}")):
        for other, entry in read_manifest(manifest.parent).items():
            stored = entry.get("config", {})
            if other == name or not other.startswith(prefix) or any(stored.get(k) != wanted.get(k) for k in SAME):
                continue
            diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
            if best is None or len(diff) < len(best[1]):
                best = (other, diff)
    return best


def weights_ids(*modules: nn.Module | None) -> str:
    """The trained models a result rests on, for its ``models`` column: per model the zoo made
    inside ``modules`` (a classifier, a defense's restorer, a baseline's network), the first 12
    hex digits of its shipped file's sha256, or ``not shipped: <checkpoint>`` for one trained
    locally; joined by ``" + "`` in order of appearance."""
    found: list[str] = []
    for module in (m for m in modules if m is not None):
        for sub in module.modules():
            if hasattr(sub, "checkpoint_stem"):
                tag = sub.shipped["sha256"][:12] if sub.shipped else f"not shipped: {sub.checkpoint_stem.name}"
                found += [] if tag in found else [tag]
    return " + ".join(found)


def candidate_id(model: nn.Module) -> str:
    """The ``models`` tag of a model that a recipe search (a benchmark) trains, scores and
    discards: ``candidate <12 hex>``, the start of the sha256 of its weights as :func:`publish`
    would write them, so a choice record names the very model it scored, and a candidate later
    published would carry the same digest as its manifest entry."""
    return CANDIDATE + hashlib.sha256(_file_bytes(model.state_dict())).hexdigest()[:12]


def merged_ids(values: Iterable[str]) -> str:
    """Several ``models`` cells (:func:`weights_ids`) as one, each model once: the provenance of
    a row aggregated from other rows (a seed spread, a check over a table)."""
    found: list[str] = []
    for value in values:
        found += [tag for tag in str(value).split(" + ") if tag and tag != "nan" and tag not in found]
    return " + ".join(found)
