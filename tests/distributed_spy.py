"""``precompute`` under torchrun with every file write logged per rank (tests/test_distributed.py).
SPY_PLANT breaks the distributed path on purpose: ``writer``, every rank writes; ``model``, ranks
keep their own BatchNorm statistics and gradients are not averaged (no DDP). (Both at once would
let two ranks write different checkpoints to the same file.)"""

import importlib
import os
import sys
from pathlib import Path

from reconstruction_defense.cli import precompute
from reconstruction_defense.config import distributed
from reconstruction_defense.data import checkpoints, outputs

evaluate = importlib.import_module(
    "reconstruction_defense.evaluation.scoring"
)  # the package exports a function of that name


def main() -> int:
    log = Path(os.environ["SPY_LOG"]) / f"writes-rank{os.environ['RANK']}.txt"
    real_write = outputs.atomic_write

    def logged_write(path, data):
        with open(log, "a") as f:
            f.write(f"{Path(path).resolve()}\n")
        real_write(path, data)

    checkpoints.atomic_write = evaluate.atomic_write = logged_write
    plant = os.environ.get("SPY_PLANT")
    if plant == "writer":
        distributed.is_writer = lambda: True
    elif plant == "model":
        distributed.sync_from_rank0 = lambda module: None
        distributed.wrap_for_training = lambda module: module
    return precompute.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
