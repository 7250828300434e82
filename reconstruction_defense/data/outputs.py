"""Where results go and how they are written: atomic file writes, result tables that add up
across runs split by dataset, the output folders of a profile, and the cold/warm state of a run."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pandas as pd


class OutputError(OSError):
    """A result or checkpoint cannot be written; the message names the file and the fix."""


def _output_fix(path: Path, err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return f"free space on the disk that holds {path.parent}, then run again"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"make {path.parent} writable, or point the output folder elsewhere "
            "(workdir / results_dir / figures_dir, or --workdir / --results)"
        )
    return f"check that {path.parent} is a writable folder"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never a half-written file,
    and a failed write (read-only folder, full disk) leaves any earlier ``path`` as it was."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(
                err.errno, f"cannot write {path}: {err.strerror or err}; {_output_fix(path, err)}"
            ) from None
        raise


def check_writable(folder: Path) -> None:
    """Raise :class:`OutputError` (naming the fix) unless ``folder`` can be created and written,
    before any work whose result would go there is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(
            err.errno, f"cannot write into {folder}: {err.strerror or err}; {_output_fix(folder / 'x', err)}"
        ) from None


def save_table(table: pd.DataFrame, path: Path, by: str = "dataset") -> pd.DataFrame:
    """Write ``table`` as CSV atomically, keeping the rows of ``path`` whose ``by`` value
    ``table`` does not cover (a run split in parts, e.g. one dataset at a time, adds up instead
    of overwriting). Returns what was written."""
    path = Path(path)
    if path.exists() and by in table:
        kept = pd.read_csv(path)
        kept = kept[~kept[by].isin(table[by].unique())] if by in kept else kept.iloc[:0]
        table = pd.concat([kept, table], ignore_index=True) if len(kept) else table
    atomic_write(path, table.to_csv(index=False).encode())
    return table


def repository() -> Path:
    """The checkout the series runs in: the folder above this package when it holds
    ``notebooks/`` (a source or editable install), else the nearest folder at or above the
    current one that does, else the current folder. Notebooks find ``runs/``, ``figures/`` and
    ``results/`` from here, wherever the kernel was started."""
    here = Path(__file__).resolve().parents[1]
    cwd = Path.cwd().resolve()
    for candidate in (here, cwd, *cwd.parents):
        if (candidate / "notebooks").is_dir():
            return candidate
    return cwd


def output_dirs(
    profile_name: str,
    figures: str | Path | None = None,
    results: str | Path | None = None,
    workdir: str | Path | None = None,
) -> tuple[Path, Path, Path]:
    """Where a run writes its figures, tables and cache (``None``: the repository's ``figures/``,
    ``results/`` and ``runs/``, :func:`repository`). ``smoke`` writes its figures and tables to
    ``<workdir>/smoke/...`` instead, so a test run never overwrites published results."""
    root = repository()
    workdir = Path(workdir) if workdir is not None else root / "runs"
    figures = Path(figures) if figures is not None else root / "figures"
    results = Path(results) if results is not None else root / "results"
    if profile_name == "smoke":
        figures, results = workdir / "smoke" / "figures", workdir / "smoke" / "results"
    for d in (figures, results):
        d.mkdir(parents=True, exist_ok=True)
    return figures, results, workdir


def cache_state(new_cache_files: float) -> str:
    """``warm`` when a run made no checkpoint or attack set (it only re-scored), ``cold`` when it
    had to make some, ``not recorded`` for rows from before the count was kept."""
    if pd.isna(new_cache_files) or new_cache_files < 0:
        return "not recorded"
    return "warm" if new_cache_files == 0 else "cold"
