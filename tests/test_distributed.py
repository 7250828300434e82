"""The distributed precompute (torchrun, gloo, 2 ranks on the CPU) against one process: the same
adversarial sets and tables, models trained with DDP equal to one process's, only rank 0 writes;
and each of these checks shown to fail when the distributed path is broken on purpose."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.experiments.transfer import transfer_table
from reconstruction_defense.training.zoo import train_or_load

SPY = Path(__file__).with_name("distributed_spy.py")
# smoke at a few dozen images; attack batches of 8, so 4 batches are dealt to the 2 ranks
OVERRIDES = {
    "data.n_train": 500,
    "data.n_test": 32,
    "restorer.n_train": 250,
    "classifier.epochs": 1,
    "restorer.epochs": 1,
    "sweeps.deepfool_steps": 5,
    "sweeps.cw_steps": 10,
    "attacks.batch_size": 8,
}
ARGS = [
    "--profile",
    "smoke",
    "--datasets",
    "mnist",
    "--steps",
    "models",
    "transfer",
    "--set",
    *(f"{k}={v}" for k, v in OVERRIDES.items()),
]


def _run(command: list[str], workdir: Path, log: Path, plant: str = "") -> None:
    log.mkdir(parents=True, exist_ok=True)
    # one thread per process on both sides: thread count changes float rounding (README)
    root = str(Path(__file__).resolve().parents[1])  # the spy runs as a script, from tests/
    env = {
        **os.environ,
        "SPY_LOG": str(log),
        "OMP_NUM_THREADS": "1",
        "RANK": "0",
        "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    env.pop("SPY_PLANT", None)
    if plant:
        env["SPY_PLANT"] = plant
    result = subprocess.run(
        [*command, *ARGS, "--workdir", str(workdir)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def torchrun(workdir: Path, log: Path, plant: str = "") -> None:
    _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SPY)],
        workdir,
        log,
        plant,
    )


def one_process(workdir: Path, log: Path, checkpoints_from: Path | None = None) -> None:
    """The serial precompute; with ``checkpoints_from``, on those trained models (attacks only)."""
    if checkpoints_from is not None:
        shutil.copytree(checkpoints_from / "checkpoints", workdir / "checkpoints")
    _run([sys.executable, str(SPY)], workdir, log)


def sets(workdir: Path) -> dict[str, torch.Tensor]:
    return {p.name: load_file(p)["adv"] for p in sorted((workdir / "adversarial").glob("*.safetensors"))}


def lenet_weights(workdir: Path) -> dict[str, torch.Tensor]:
    (file,) = (workdir / "checkpoints").glob("mnist-lenet-*.safetensors")
    return {k: v for k, v in load_file(file).items() if k.startswith("model.")}


def max_weight_gap(a: Path, b: Path) -> float:
    wa, wb = lenet_weights(a), lenet_weights(b)
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def sets_equal(a: Path, b: Path) -> bool:
    sa, sb = sets(a), sets(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Workdirs: ``ddp`` (2 ranks), ``serial`` (1 process on ddp's models), ``scratch`` (1
    process trained from scratch), ``planted`` (2 ranks without DDP and BatchNorm sync) with
    ``planted_serial``, and ``every_rank_writes`` (2 ranks, rank 0 not the only writer)."""
    root = tmp_path_factory.mktemp("distributed")
    names = ("ddp", "serial", "scratch", "planted", "planted_serial", "every_rank_writes")
    w = {name: root / name for name in names}
    torchrun(w["ddp"], root / "log-ddp")
    one_process(w["serial"], root / "log-serial", checkpoints_from=w["ddp"])
    one_process(w["scratch"], root / "log-scratch")
    torchrun(w["planted"], root / "log-planted", plant="model")
    one_process(w["planted_serial"], root / "log-planted-serial", checkpoints_from=w["planted"])
    torchrun(w["every_rank_writes"], root / "log-every-rank-writes", plant="writer")
    return root, w


def test_sharded_adversarial_sets_equal_one_process(runs):
    _, w = runs
    assert len(sets(w["ddp"])) == 8  # 4 attacks x 2 classifiers (LeNet, ResNet-20 with BatchNorm)
    assert sets_equal(w["ddp"], w["serial"])
    assert not sets_equal(w["planted"], w["planted_serial"])  # rank 1 attacked its own model


def test_tables_from_the_distributed_cache_equal_one_process(runs):
    _, w = runs
    profile = get_profile("smoke", device="cpu", **OVERRIDES)
    tables = [
        transfer_table(train_or_load("mnist", profile, None, w[name]), profile, w[name]) for name in ("ddp", "serial")
    ]
    assert len(tables[0]) > 0 and tables[0].equals(tables[1])


def test_ddp_training_equals_one_process_on_the_same_global_batches(runs):
    _, w = runs
    # LeNet has no BatchNorm, so only the order of the gradient sum differs
    assert max_weight_gap(w["ddp"], w["scratch"]) < 1e-4
    assert max_weight_gap(w["planted"], w["scratch"]) > 1e-3  # each rank on its half, no averaging


def test_only_rank_0_writes(runs):
    root, w = runs
    written = (root / "log-ddp" / "writes-rank0.txt").read_text().split()
    on_disk = [str(p.resolve()) for p in w["ddp"].rglob("*") if p.is_file()]
    assert sorted(set(written)) == sorted(on_disk)
    assert not (root / "log-ddp" / "writes-rank1.txt").exists()
    assert (root / "log-every-rank-writes" / "writes-rank1.txt").read_text().split()  # planted
