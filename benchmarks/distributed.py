"""Benchmark: what sharding an adversarial set over torch.distributed ranks costs.

    RECDEF_DATA=/path/to/data python benchmarks/distributed.py [--images 500] [--repeats 3]

The same adversarial set (BIM, 10 steps, eps 0.3, on the first ``--images`` MNIST test images,
batches of 50, against the ``cpu`` series' shipped MNIST classifier, :mod:`shipped`) is made
under ``torchrun`` (gloo) twice on this machine's cores: 1 rank x all threads, then one rank per
core x 1 thread each. Per run, rank 0 times the three phases of
:func:`~reconstruction_defense.evaluation.scoring.adversarial_examples`: its share of the attack
batches, the gather onto every rank, and its file write (plus the barrier that follows).
Printed: the median wall time of each setup, their ratio, and gather + write as a share of the
run. On a 2-core CPU no speed-up is expected; the point is that sharding costs
little. Not a test: run by hand; ``recdef report`` renders the CSV into the page named below.

Backs: docs/scale-out.md, the bullet "Sharding's cost".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from shipped import series_models  # benchmarks/ is on the path as a script


def worker(images: int, repeats: int, out: Path) -> None:
    """One rank's part (run by torchrun): time each phase ``repeats`` times, rank 0 saves them."""
    import torch
    from safetensors.torch import save as st_save

    from reconstruction_defense.attacks.registry import AttackParams, batch_seed, run_attack
    from reconstruction_defense.config import distributed
    from reconstruction_defense.data.datasets import load_dataset
    from reconstruction_defense.data.outputs import atomic_write
    from reconstruction_defense.data.weights import weights_ids

    distributed.init_from_env("cpu")
    test = load_dataset("mnist", "test", n=images, seed=0)
    model = series_models("mnist").classifier.eval()
    params = AttackParams(batch_size=50)
    n_batches = -(-images // params.batch_size)
    runs = []
    for _ in range(repeats):
        distributed.barrier()
        t0 = time.perf_counter()
        mine = {
            b: run_attack(
                "bim",
                model,
                test.images[b * 50 : (b + 1) * 50],
                test.labels[b * 50 : (b + 1) * 50],
                0.3,
                params,
                batch_seed(0, b),
            )
            for b in distributed.my_batches(n_batches)
        }
        t1 = time.perf_counter()
        adv = torch.cat(distributed.gather_batches(mine, n_batches))
        t2 = time.perf_counter()
        if distributed.is_writer():
            atomic_write(out.with_suffix(".safetensors"), st_save({"adv": adv.contiguous()}))
        distributed.barrier()
        t3 = time.perf_counter()
        runs.append({"attack_s": t1 - t0, "gather_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0})
    if distributed.is_writer():
        out.write_text(json.dumps({"models": weights_ids(model), "runs": runs}))
    distributed.shutdown()


def launch(ranks: int, threads: int, images: int, repeats: int, folder: Path) -> dict:
    """Run :func:`worker` under torchrun with ``ranks`` x ``threads``; the medians of its phases."""
    out = folder / f"r{ranks}t{threads}.json"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={ranks}",
            __file__,
            "--worker",
            "--images",
            str(images),
            "--repeats",
            str(repeats),
            "--out",
            str(out),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    made = json.loads(out.read_text())
    runs = made["runs"]
    return {
        "setup": f"{ranks} rank(s) x {threads} thread(s)",
        "images": images,
        "repeats": repeats,
        **{k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]},
        "models": made["models"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/benchmark_distributed.csv"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.images, args.repeats, args.out)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            launch(1, cores, args.images, args.repeats, Path(tmp)),
            launch(cores, 1, args.images, args.repeats, Path(tmp)),
        ]
    table = pd.DataFrame(rows)
    table["vs_1_rank"] = (table.total_s / table.total_s.iloc[0]).round(3)
    table["gather_write_share"] = ((table.gather_s + table.write_s) / table.total_s).round(4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
