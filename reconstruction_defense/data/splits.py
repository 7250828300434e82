"""Which images a split holds. Three splits: ``train`` and ``validation`` partition the files'
training split (validation is a fixed seeded draw of :data:`VALIDATION_SIZE` images, the same for
every profile and seed), and ``test`` is the files' test split. Models train on ``train``; every
choice of a size, an epoch count or a hyper-parameter is scored on ``validation``; only results
see ``test``."""

from __future__ import annotations

import torch

SPLITS = ("train", "validation", "test")
VALIDATION_SIZE = 5000  # held out of the training files; a tenth of them when there are fewer than 50,000
VALIDATION_SEED = 5_000_011  # fixed: the held-out images never depend on a profile's seed


def subset_indices(total: int, n: int | None, seed: int) -> torch.Tensor:
    """``n`` distinct indices out of ``total``, drawn with ``seed`` and sorted (all when n is None)."""
    if n is None or n >= total:
        return torch.arange(total)
    if n < 1:
        raise ValueError(f"subset size n must be >= 1 (got {n})")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=gen)[:n].sort().values


def validation_indices(total: int) -> torch.Tensor:
    """The held-out images of a training split of ``total``: :data:`VALIDATION_SIZE` of them (a
    tenth when the split is smaller than ten times that; none under 10), a fixed seeded draw, sorted."""
    n = min(VALIDATION_SIZE, total // 10)
    return subset_indices(total, n, VALIDATION_SEED) if n else torch.zeros(0, dtype=torch.long)


def files_of(split: str) -> str:
    """The files a split is read from: ``validation`` is held out of the training files."""
    return "test" if split == "test" else "train"


def split_indices(split: str, total: int, n: int | None, seed: int) -> torch.Tensor:
    """Indices into the files' split (``total`` images) of a seeded draw of ``n`` images of
    ``split``: ``train`` draws from the training files minus :func:`validation_indices`,
    ``validation`` from those, ``test`` from the test files."""
    if split == "test":
        return subset_indices(total, n, seed)
    held_out = torch.zeros(total, dtype=torch.bool)
    held_out[validation_indices(total)] = True
    pool = held_out.nonzero().squeeze(1) if split == "validation" else (~held_out).nonzero().squeeze(1)
    if not len(pool):
        raise ValueError(f"{total} training images are too few to hold out a validation split (it needs 10)")
    return pool[subset_indices(len(pool), n, seed)]
