"""Train the models of a profile's notebook series that are not shipped yet, and publish each one
into ``weights/<profile>/`` (safetensors + manifest entry) the moment it is finished:

    recdef train --profile cpu                       # everything missing, main models first
    recdef train --profile cpu --dataset mnist --only main     # or a kind: classifier, restorer...
    recdef train --profile cpu --dry-run             # the plan: shipped / cached / to train

A shipped model is loaded, never retrained; a model whose checkpoint is finished in the local
cache (``--workdir``) is published without training. Interrupted, it resumes: published models
stay, and the model in training continues from its last epoch checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..config.profiles import Profile, get_profile
from ..data import checkpoints, weights
from ..experiments.series import DATASETS, SeriesModel, quality, series_models
from ..training.zoo import NotCached, load_only
from .common import add_common_options, run_main


def status(model: SeriesModel) -> str:
    """``shipped``, ``cached`` (finished in the local cache, to publish) or ``to train``."""
    try:
        with load_only():
            made = model.make()
    except NotCached:
        return "to train"
    return "shipped" if model.published(made).shipped is not None else "cached"


def entry_of(model: SeriesModel, module: Any, profile: Profile) -> dict[str, Any]:
    """The manifest entry of a finished model (all but its file, digest, size and quality)."""
    meta = json.loads(checkpoints.paths(module.checkpoint_stem)[1].read_text())
    seconds = [epoch.get("seconds") for epoch in module.history]
    return {
        "profile": profile.name,
        "dataset_key": model.dataset,
        "dataset": module.config["dataset"],
        "role": model.role,
        "kind": model.kind,
        "arch": model.label,
        "key": module.checkpoint_stem.name.rsplit("-", 1)[1],
        "config": module.config,
        "parameters": sum(p.numel() for p in module.parameters()),
        "epochs": len(module.history),
        "train_seconds": round(sum(seconds), 1) if None not in seconds else None,
        "trained_with": meta["trained_with"],
        "history": module.history,
    }


def train_missing(plan: list[SeriesModel], profile: Profile, folder: Path, data_root: str | None) -> int:
    """Make and publish every model of ``plan`` that is not shipped; returns how many."""
    todo = [m for m in plan if status(m) != "shipped"]
    bar = tqdm(todo, desc="models", unit="model")
    for model in bar:
        bar.set_description(f"{model.dataset} {model.label} ({model.role})")
        start = time.perf_counter()
        made = model.make()
        module = model.published(made)
        entry = entry_of(model, module, profile) | {"quality": quality(model, made, profile, data_root)}
        weights.publish(folder, module.checkpoint_stem.name, module.state_dict(), entry)
        tqdm.write(
            f"published {module.checkpoint_stem.name} in {time.perf_counter() - start:.0f} s: {entry['quality']}"
        )
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--dataset", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument(
        "--only",
        default=None,
        help="a kind (classifier, restorer, comdefend, pixelcnn), a group (main, transfer, ...) or a role "
        "('seed spread: restorer')",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and train nothing")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument("--workdir", default="runs", type=Path, help="the local checkpoint cache")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile, device=args.device)
    plan = series_models(profile, tuple(args.dataset), args.data_root, args.workdir)
    if args.only:
        plan = [m for m in plan if args.only in (m.kind, m.group, m.role)]
        if not plan:
            raise ValueError(
                f"--only {args.only!r} matches no model; give a kind, group or role, e.g. restorer, main or "
                "'seed spread: restorer'"
            )
    if args.dry_run:
        for m in plan:
            print(f"{status(m):9} {m.dataset:14} {m.label:24} {m.role}")
        return 0
    folder = weights.weights_root() / profile.name
    done = train_missing(plan, profile, folder, args.data_root)
    print(f"[{profile.name}] {done} model(s) published to {folder}; {len(plan) - done} were shipped already")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
