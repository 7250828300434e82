"""Scale-out through torch.distributed (started by ``torchrun``), a no-op in a single process.

Two kinds of work are spread over the ranks:

* **training** — every global batch (the one a single process would draw, see
  :func:`~reconstruction_defense.training.loops.batches`) is split across the ranks
  (:func:`shard_of_batch`), each rank's loss is weighted by its share of the batch
  (:func:`share_weight`), and DistributedDataParallel averages the gradients: the update is the
  single-process one on the same global batch, with the same learning rate;
* **attacks** — the attack batches of a test set are dealt round-robin to the ranks
  (:func:`my_batches`), every rank gets all of them back (:func:`gather_batches`), and only
  rank 0 writes files (:func:`is_writer`).
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn


def active() -> bool:
    """True inside a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks; (0, 1) without a process group."""
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def is_writer() -> bool:
    """Only rank 0 writes checkpoints, cached adversarial sets and tables."""
    return rank_and_world()[0] == 0


def barrier() -> None:
    """Wait until every rank gets here (after rank 0 wrote a file the others will read)."""
    if active():
        dist.barrier()


def init_from_env(device: str) -> str:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1):
    NCCL on CUDA with one GPU per local rank, else gloo. Returns the device this rank uses
    (``cuda:<LOCAL_RANK>`` for ``cuda``). Without torchrun, nothing happens."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    on_gpu = torch.device(device).type == "cuda"
    if on_gpu:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    # a rank may wait for rank 0 to finish training a small model: allow hours, not minutes
    dist.init_process_group("nccl" if on_gpu else "gloo", timeout=datetime.timedelta(hours=6))
    return device


def shutdown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_of_batch(idx: Tensor) -> Tensor:
    """This rank's slice of one global batch of indices (every ``world``-th one)."""
    rank, world = rank_and_world()
    return idx[rank::world]


def share_weight(local: int, global_: int) -> float:
    """The factor that makes DDP's gradient average (a mean over ranks of per-rank mean losses)
    equal the gradient of the mean loss over the whole global batch, also when the ranks'
    slices differ in size: ``local * world / global``. 1 in a single process."""
    world = rank_and_world()[1]
    return 1.0 if world == 1 else local * world / global_


def wrap_for_training(module: nn.Module) -> nn.Module:
    """``module`` in DistributedDataParallel inside a process group, else as it is."""
    if not active():
        return module
    device = next(module.parameters()).device
    ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def sync_from_rank0(module: nn.Module) -> None:
    """Make every rank's copy of ``module`` rank 0's (the one it saves): DDP keeps parameters
    equal, but BatchNorm's running statistics are updated by each rank's own last batch."""
    if active():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, 0)


def all_sum(*values: float) -> list[float]:
    """``values`` summed over the ranks (epoch totals for logging)."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def my_batches(n_batches: int) -> range:
    """The attack batches this rank makes: ``rank, rank + world, ...``."""
    rank, world = rank_and_world()
    return range(rank, n_batches, world)


def gather_batches(mine: dict[int, Tensor], n_batches: int) -> list[Tensor]:
    """Every rank's ``{batch number: CPU tensor}`` gathered on every rank, in batch order."""
    if not active():
        return [mine[b] for b in range(n_batches)]
    parts: list[dict[int, Tensor] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, mine)
    merged = {b: t for part in parts for b, t in part.items()}
    return [merged[b] for b in range(n_batches)]
