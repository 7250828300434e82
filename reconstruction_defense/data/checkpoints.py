"""Checkpoints: safetensors weights (never pickle) plus a JSON sidecar, both written atomically.

The sidecar holds the config, epoch, metrics and the sha256 of the weights file; loading checks
all three, so a torn, corrupt or foreign checkpoint is an error, never a silent wrong model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from .outputs import atomic_write

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used; the message names the file and the fix."""


def config_key(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able config, used to name cached checkpoints."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def paths(stem: Path) -> tuple[Path, Path]:
    """The weights and sidecar files of checkpoint ``stem``."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def exists(stem: Path) -> bool:
    """True when the sidecar of ``stem`` exists (it is written last, so it marks a whole checkpoint)."""
    return paths(stem)[1].exists()


def save(stem: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Save ``tensors`` as safetensors and ``meta`` (+ sha256 of the weights) as JSON, atomically."""
    weights, sidecar = paths(stem)
    blob = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    atomic_write(weights, blob)
    record = {"format": FORMAT, **meta, "sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write(sidecar, json.dumps(record, indent=1, sort_keys=True, default=str).encode())


def load(stem: Path, expected_config: dict[str, Any] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load checkpoint ``stem``; verify its hash and (if given) that its config is ``expected_config``."""
    weights, sidecar = paths(stem)
    fix = f"delete {weights.name} and {sidecar.name} in {weights.parent} to retrain"
    try:
        meta = json.loads(sidecar.read_text())
        blob = weights.read_bytes()
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint file missing: {err.filename}; {fix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"sidecar {sidecar} is not valid JSON ({err}); {fix}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "sha256" not in meta:
        raise CheckpointError(f"sidecar {sidecar} is not a reconstruction_defense checkpoint; {fix}")
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise CheckpointError(f"{weights} does not match the sha256 in {sidecar.name} (corrupt or replaced); {fix}")
    if expected_config is not None:
        stored = json.loads(json.dumps(meta.get("config"), default=str))
        wanted = json.loads(json.dumps(expected_config, default=str))
        if stored != wanted:
            diff = sorted(k for k in set(stored or {}) | set(wanted) if (stored or {}).get(k) != wanted.get(k))
            raise CheckpointError(
                f"{weights} was made for another config (differs in {diff}: "
                f"stored {[(stored or {}).get(k) for k in diff]}, wanted "
                f"{[wanted.get(k) for k in diff]}); {fix}, or load the right file"
            )
    try:
        tensors = st_load(blob)
    except Exception as err:  # safetensors raises its own error type for a malformed header
        raise CheckpointError(f"{weights} is not a readable safetensors file ({err}); {fix}") from None
    return tensors, meta


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state into tensors (for safetensors) and a JSON-able rest."""
    state = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in rest["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def tensor_digest(*tensors: Tensor) -> str:
    """sha256 of the raw bytes of some tensors (weights or images), to key caches."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def model_digest(model: nn.Module) -> str:
    """sha256 of a model's state (parameters and buffers)."""
    return tensor_digest(*model.state_dict().values())
