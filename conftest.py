"""Test-run settings shared by pytest and the nbval notebook kernels it starts: the smoke
profile for notebooks, and the offline data beside the repository when it is there."""
import os
from pathlib import Path

os.environ.setdefault("RECDEF_PROFILE", "smoke")
_shared = Path(__file__).resolve().parent.parent / "shared" / "data"
if "RECDEF_DATA" not in os.environ and _shared.is_dir():
    os.environ["RECDEF_DATA"] = str(_shared)
