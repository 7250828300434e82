"""Test-run settings shared by pytest and the nbval notebook kernels it starts: the offline
data beside the repository when it is there (the notebooks' own parameter defaults are the
smoke profile)."""

import os
from pathlib import Path

_shared = Path(__file__).resolve().parent.parent / "shared" / "data"
if "RECDEF_DATA" not in os.environ and _shared.is_dir():
    os.environ["RECDEF_DATA"] = str(_shared)

# nbval reads a kernel's IOPub messages only after the cell returns, and IOPub drops messages
# beyond its high-water mark: a long cell streaming many progress-bar updates can lose its
# final "idle" message and fail with "Timeout ... waiting for output" (seen in CI on a clean
# clone, where notebook 04 trains every classifier). Kernels inherit this: bars stay silent.
os.environ.setdefault("TQDM_DISABLE", "1")
