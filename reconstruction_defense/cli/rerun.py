"""Rerun the notebook series in order with papermill: every figure and table regenerated.

    recdef rerun --profile cpu

``cpu``/``paper`` runs write the executed notebooks back into ``notebooks/`` (so the committed
notebooks carry real outputs) and fill ``figures/`` and ``results/``; ``smoke`` runs write
everything under ``runs/smoke/``. Each notebook's wall time, the peak memory of its kernel and
how many checkpoints and adversarial sets it had to make (0: it ran warm, from the cache) go to
``results/rerun_times.csv``, one row per notebook for its latest cold and its latest warm run, and
each code cell's wall time in its latest run to ``results/rerun_cells.csv`` (where the time goes).
Stops at the first failing notebook and names the executed copy that holds the error. Trained
weights and attacks are cached, so a rerun only re-scores. The profile, device and data root
reach each notebook as papermill parameters, so every executed notebook records them in its
injected-parameters cell (tagged ``nbval-skip``: CI replays the committed notebooks with their
own ``smoke`` defaults). A notebook too long for one sitting runs in parts, one or more datasets
each (``recdef rerun --profile cpu --only 06 --datasets mnist``): its tables add up across the
parts (each part replaces its datasets' rows), and its times are recorded per part
(``06_adaptive_evaluation.ipynb [mnist]``). One notebook by hand, from anywhere:
``papermill notebooks/02_restorer_training.ipynb out.ipynb -p profile_name smoke``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pandas as pd
import papermill

from ..config.profiles import get_profile
from ..data.datasets import INFOS
from ..data.outputs import atomic_write, cache_state
from .common import add_common_options, run_main


def notebooks_in(folder: Path) -> list[Path]:
    """The numbered notebooks of the series, in order (``01_...ipynb``, ``02_...ipynb``, ...)."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(
            f"no numbered notebooks (NN_name.ipynb) in {folder.resolve()}; "
            "run from the repository root or pass --notebooks"
        )
    return found


def declares_datasets(notebook: Path) -> bool:
    """Whether ``notebook``'s ``parameters`` cell assigns ``datasets`` (so a run can be split by dataset)."""
    cells = nbformat.read(notebook, as_version=4).cells
    source = next((c.source for c in cells if "parameters" in c.metadata.get("tags", [])), "")
    return any(
        isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "datasets" for t in n.targets)
        for n in ast.parse(source).body
    )


def part_label(notebook: Path, datasets: list[str] | None) -> str:
    """How the rerun tables name a run: the notebook, and the datasets of a part run."""
    return f"{notebook.name} [{', '.join(datasets)}]" if datasets else notebook.name


def record_time(
    file: Path, notebook: str, profile: str, seconds: float, peak_mib: float = float("nan"), new_cache_files: int = -1
) -> None:
    """Set the row of ``notebook``'s latest cold or warm run (wall time, kernel peak memory, cache
    files it had to make) in the CSV of rerun times; every other row is kept, so the CSV holds a
    cold and a warm run per notebook side by side (a row from before runs were told apart is
    dropped once the notebook has a measured one). A part run (``notebook`` ends in
    ``[datasets]``, :func:`part_label`) replaces the whole notebook's row of its kind and sits
    beside the other parts; a whole run replaces every part's row of its kind."""
    columns = ["notebook", "profile", "run", "seconds", "peak_mib", "new_cache_files"]
    rows = pd.read_csv(file) if file.exists() else pd.DataFrame(columns=columns)
    if "run" not in rows:
        rows["run"] = [cache_state(n) for n in rows.get("new_cache_files", pd.Series(float("nan"), index=rows.index))]
    run = cache_state(new_cache_files)
    whole = notebook.split(" [")[0]  # a part's row and the whole notebook's row replace each other
    same = (rows.notebook.str.split(" [", regex=False).str[0] == whole) & (rows.profile == profile)
    same &= (rows.notebook == notebook) | (rows.notebook == whole) | (notebook == whole)
    rows = rows[~(same & rows.run.isin([run, "not recorded"]))]  # a measured run supersedes a legacy row
    new = pd.DataFrame(
        [
            {
                "notebook": notebook,
                "profile": profile,
                "run": run,
                "seconds": round(seconds, 1),
                "peak_mib": round(peak_mib, 0),
                "new_cache_files": new_cache_files,
            }
        ]
    )
    rows = pd.concat([rows, new] if len(rows) else [new]).sort_values(["notebook", "run"])
    atomic_write(file, rows.reindex(columns=columns).to_csv(index=False).encode())


def record_cell_times(file: Path, notebook: Path, profile: str, label: str | None = None) -> None:
    """Replace the rows of ``label`` (default: the notebook's name) in the CSV of per-cell wall
    times with its latest run's, read from the durations papermill wrote into the executed copy
    (before they are stripped): where a notebook's time goes, one row per code cell with the first
    line of its source."""
    label = label or notebook.name
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    new = pd.DataFrame(
        [
            {
                "notebook": label,
                "profile": profile,
                "cell": number,
                "seconds": round(float(cell.metadata.get("papermill", {}).get("duration") or 0.0), 1),
                "source": next((line for line in cell.source.splitlines() if line.strip()), ""),
            }
            for number, cell in enumerate(cells, start=1)
        ]
    )
    rows = pd.read_csv(file) if file.exists() else new.iloc[:0]
    rows = rows[~((rows.notebook == label) & (rows.profile == profile))]
    rows = pd.concat([rows, new]) if len(rows) else new
    atomic_write(file, rows.sort_values(["notebook", "cell"]).to_csv(index=False).encode())


def _children_peak_kib() -> int:
    """Largest peak resident set (VmHWM) among this process's descendants (Linux /proc; else 0)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):  # the process ended while we looked
            continue
    mine, peak = {os.getpid()}, 0
    for _ in range(8):  # the kernel is a child or grandchild; a few generations are enough
        mine |= {pid for pid, parent in parents.items() if parent in mine}
    for pid in mine - {os.getpid()}:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak


@contextmanager
def kernel_peak_memory(interval: float = 0.5) -> Iterator[list[float]]:
    """Sample the children's peak memory every ``interval`` s; yields a list whose one item is the
    peak in MiB when the block ends (NaN where /proc is not available)."""
    result: list[float] = [float("nan")]
    stop, peak = threading.Event(), [0]

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], _children_peak_kib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result[0] = peak[0] / 1024 if peak[0] else float("nan")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STAMP = "recdef"  # a code cell's metadata key: the digest of the source its outputs come from
STRIPPED = {"metadata": ("widgets", "papermill"), "cell.metadata": ("execution", "papermill", "ExecuteTime")}


def finish_executed(notebook: Path) -> None:
    """Tag papermill's injected-parameters cell ``nbval-skip`` and drop widget state and execution
    metadata: the executed notebook records the parameters of its run (``profile_name = "cpu"``),
    and nbval in CI replays it with the parameters cell's own safe defaults (``smoke``) instead.
    Progress bars leave widget views in outputs and their state in metadata (most of an executed
    notebook's size, and "model not found" on reopening); each output keeps its text rendering.
    The injected cell loses papermill's final newline, so the notebook stays as ``ruff format`` leaves it.
    Timestamps (``STRIPPED``) would change the file on every run; nbstripout strips the same keys
    before a commit (``.pre-commit-config.yaml``)."""
    nb = nbformat.read(notebook, as_version=4)
    for key in STRIPPED["metadata"]:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in STRIPPED["cell.metadata"]:
            cell.metadata.pop(key, None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.source = cell.source.rstrip("\n")  # papermill ends it with a newline, ruff's format without
        if "injected-parameters" in tags and "nbval-skip" not in tags:
            cell.metadata["tags"] = [*tags, "nbval-skip"]
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("data", {}).pop(WIDGET_VIEW, None)
            cell.outputs = [out for out in cell.outputs if "data" not in out or out.data]
    atomic_write(notebook, nbformat.writes(nb).encode())


def source_digest(source: str) -> str:
    """The digest a code cell's outputs are stamped with: the first 16 hex digits of its source's sha256."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def stamp_sources(notebook: Path) -> None:
    """Record in each code cell's metadata (``recdef.source``) the digest of the source that made
    its outputs, so a cell edited after the run is found (:func:`provenance_problems`)."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        cell.metadata[STAMP] = {"source": source_digest(cell.source)}
    atomic_write(notebook, nbformat.writes(nb).encode())


def provenance_problems(notebook: Path) -> list[str]:
    """The code cells of an executed notebook whose outputs its current source did not make:
    never executed, not stamped by a rerun, or edited since (their digest differs)."""
    problems = []
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    for number, cell in enumerate(cells, start=1):
        stamp = cell.metadata.get(STAMP, {}).get("source")
        if cell.execution_count is None:
            problems.append(f"{notebook.name}: code cell {number} was not executed")
        elif stamp is None:
            problems.append(f"{notebook.name}: code cell {number} has no source stamp of a rerun")
        elif stamp != source_digest(cell.source):
            problems.append(f"{notebook.name}: code cell {number} was edited after its outputs were made")
    return problems


def cache_files(workdir: Path) -> int:
    """How many checkpoints and cached adversarial sets ``workdir`` holds."""
    return sum(1 for _ in workdir.rglob("*.safetensors")) if workdir.is_dir() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--notebooks", default="notebooks", type=Path, help="folder of the series")
    parser.add_argument("--only", nargs="*", default=None, help="numbers to run, e.g. 01 03")
    parser.add_argument("--data-root", default=None, help="data directory (default: $RECDEF_DATA, else ./data)")
    parser.add_argument(
        "--datasets", nargs="+", choices=list(INFOS), default=None, help="run a part: these datasets only"
    )
    args = parser.parse_args(argv)
    profile = get_profile(args.profile, device=args.device)
    folder = args.notebooks.resolve()
    out_dir = folder if profile.name != "smoke" else folder.parent / "runs" / "smoke" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    times = folder.parent / ("results" if profile.name != "smoke" else "runs/smoke/results") / "rerun_times.csv"
    workdir = folder.parent / "runs"  # the notebooks' default workdir: the repository's runs/
    parameters = {
        "profile_name": profile.name,
        "device": profile.device,
        "data_root": str(Path(args.data_root).resolve()) if args.data_root else None,
    }
    selected = [nb for nb in notebooks_in(folder) if not args.only or nb.name[:2] in args.only]
    if args.datasets:
        parameters["datasets"] = args.datasets
        unsplittable = [nb.name for nb in selected if not declares_datasets(nb)]
        if unsplittable:
            raise ValueError(f"{', '.join(unsplittable)}: no `datasets` parameter to split by; run without --datasets")
    print(f"[{profile.name}] every notebook runs on {profile.device}", flush=True)
    start = time.perf_counter()
    for nb in selected:
        label = part_label(nb, args.datasets)
        target = out_dir / nb.name
        print(f"[{profile.name}] {time.strftime('%Y-%m-%d %H:%M:%S')} {nb.name} -> {target}", flush=True)
        t0, cached = time.perf_counter(), cache_files(workdir)
        try:
            with kernel_peak_memory() as peak:
                papermill.execute_notebook(
                    str(nb),
                    str(target),
                    parameters=parameters,
                    cwd=str(folder),
                    progress_bar=True,
                    kernel_name="python3",
                )
            record_cell_times(times.with_name("rerun_cells.csv"), target, profile.name, label)
            finish_executed(target)
            stamp_sources(target)
        except papermill.PapermillExecutionError as err:
            print(
                f"FAILED in {nb.name}: {err.ename}: {err.evalue}\nthe executed copy with the error: {target}",
                file=sys.stderr,
            )
            return 1
        seconds, made = time.perf_counter() - t0, cache_files(workdir) - cached
        record_time(times, label, profile.name, seconds, peak[0], made)
        print(
            f"  done in {seconds:.0f} s, kernel peak {peak[0]:.0f} MiB, {made} new checkpoints "
            f"or attack sets (recorded in {times})",
            flush=True,
        )
    print(f"all notebooks done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
