"""Rerun the notebook series in order with papermill: every figure and table regenerated.

    python -m reconstruction_defense.rerun --profile cpu

``cpu``/``paper`` runs write the executed notebooks back into ``notebooks/`` (so the committed
notebooks carry real outputs) and fill ``figures/`` and ``results/``; ``smoke`` runs write
everything under ``runs/smoke/``. Each notebook's wall time goes to ``results/rerun_times.csv``.
Stops at the first failing notebook and names the executed copy that holds the error. Trained
weights and attacks are cached, so a rerun only re-scores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import papermill

from .checkpoints import atomic_write
from .profiles import PROFILES, get_profile


def notebooks_in(folder: Path) -> list[Path]:
    """The numbered notebooks of the series, in order (``01_...ipynb``, ``02_...ipynb``, ...)."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder.resolve()}; "
                                "run from the repository root or pass --notebooks")
    return found


def record_time(file: Path, notebook: str, profile: str, seconds: float) -> None:
    """Set ``notebook``'s wall time in the CSV of rerun times (other notebooks' rows kept)."""
    rows = pd.read_csv(file) if file.exists() else pd.DataFrame(columns=["notebook", "profile", "seconds"])
    rows = rows[rows.notebook != notebook]
    new = pd.DataFrame([{"notebook": notebook, "profile": profile, "seconds": round(seconds, 1)}])
    rows = pd.concat([rows, new] if len(rows) else [new]).sort_values("notebook")
    atomic_write(file, rows.to_csv(index=False).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto", help=f"auto or one of {', '.join(PROFILES)}")
    parser.add_argument("--notebooks", default="notebooks", type=Path, help="folder of the series")
    parser.add_argument("--only", nargs="*", default=None, help="numbers to run, e.g. 01 03")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    folder = args.notebooks.resolve()
    out_dir = folder if profile.name != "smoke" else folder.parent / "runs" / "smoke" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    times = folder.parent / ("results" if profile.name != "smoke" else "runs/smoke/results") / "rerun_times.csv"
    # The profile and data root reach the kernels through the environment, not an injected
    # parameters cell: a committed notebook must keep reading RECDEF_PROFILE, or nbval in CI
    # would replay the cpu run cell for cell.
    os.environ["RECDEF_PROFILE"] = profile.name
    if args.data_root:
        os.environ["RECDEF_DATA"] = str(Path(args.data_root).resolve())
    start = time.perf_counter()
    for nb in notebooks_in(folder):
        if args.only and nb.name[:2] not in args.only:
            continue
        target = out_dir / nb.name
        print(f"[{profile.name}] {nb.name} -> {target}", flush=True)
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(str(nb), str(target), cwd=str(folder),
                                       progress_bar=True, kernel_name="python3")
        except papermill.PapermillExecutionError as err:
            print(f"FAILED in {nb.name}: {err.ename}: {err.evalue}\nthe executed copy with the error: "
                  f"{target}", file=sys.stderr)
            return 1
        seconds = time.perf_counter() - t0
        record_time(times, nb.name, profile.name, seconds)
        print(f"  done in {seconds:.0f} s (recorded in {times})", flush=True)
    print(f"all notebooks done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
