"""The README and the docs pages as the report fills them: every table between a pair of markers
is rendered from the CSVs a rerun wrote, and every number of the hand-written prose between
``<!-- checked prose -->`` and ``<!-- /checked prose -->`` is checked against the rows it cites
(:mod:`.prose`), so a rerun that changes a number cannot leave a page quoting the old one.

A rendered block sits between ``<!-- rendered: NAME -->`` and ``<!-- /rendered -->``; ``NAME``
is a key of :data:`BLOCKS`, and each block lives on the one page where its reader looks for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from . import benchmarks as b
from . import sections as s
from .frontpage import notebook_map_section
from .prose import unsupported_numbers
from .provenance import stale_section
from .sections import IncompleteResults
from .shipped import weights_section
from .verdict import verdict_section

Renderer = Callable[[Path], str]
BLOCKS: dict[str, list[tuple[str | None, Renderer]]] = {  # name: (level-3 title or None, renderer)
    "verdict": [(None, verdict_section)],
    "stale": [(None, stale_section)],
    "notebooks": [(None, notebook_map_section)],
    "paper-protocol": [
        ("Restored image quality (clean test images, notebook 02)", s.quality_section),
        ("Tables 1-3: the defense in front of other classifiers (notebook 04)", s.transfer_section),
        ("The main command's table (MNIST, `recdef run --profile cpu`)", s.main_command_section),
        (
            "Table 4: comparison with other defenses, Fashion-MNIST (notebook 05), ours / paper; the paper's "
            "protocol, attacks made on each row's own classifier (threat model: see the baselines page)",
            s.comparison_section,
        ),
        ("Feature Squeezing as a detector (notebook 05)", s.detection_section),
    ],
    "adaptive": [
        ("Adaptive attacks (notebook 06): accuracy [95% CI]", s.adaptive_section),
        ("Minimal-norm L2 attacks through BPDA (notebook 06): accuracy at each L2 radius", s.l2_section),
        ("What the restorer adds: the ablation under the same cascade (notebook 06)", s.ablation_section),
        ("Defense + adversarial training under adaptive attacks (notebook 07)", s.adversarial_training_section),
        ("Sanity checks of the adaptive evaluation (notebook 06)", s.sanity_section),
        ("Table 4 under one threat model: every row white-box, the same cascade (notebook 05)", s.whitebox_section),
    ],
    "attacks": [
        (
            "The main command's DeepFool and C&W-L2 rows, ours against torchattacks 3.5.1 (first 200 test images)",
            s.torchattacks_section,
        ),
        (
            "C&W-L2 against DeepFool: LeNets of three seeds, three CPU kernel sets (`benchmarks/cw_convergence.py`)",
            s.cw_seeds_section,
        ),
    ],
    "wall-time": [
        (None, s.timing_section),
        ("Where the time goes: the slowest cells of the latest runs", s.slowest_cells_section),
    ],
    "weights": [(None, weights_section)],
    "bench-attacks": [(None, b.attack_speed_section)],
    "bench-pipeline": [(None, b.pipeline_section)],
    "bench-hotspots": [(None, b.hotspots_section)],
    "bench-distributed": [(None, b.distributed_section)],
    "bench-exact": [(None, b.exact_speed_section)],
    "bench-standins": [(None, b.standins_section)],
    "bench-training-costs": [(None, b.training_costs_section)],
}
# a block's body (possibly empty) never runs into the next block: an unclosed or empty block must
# not swallow the prose between it and a later block's end
RENDERED = re.compile(r"(<!-- rendered: ([\w-]+) -->\n)((?:(?!<!-- rendered:).)*?)(\n?<!-- /rendered -->)", re.S)
CHECKED = re.compile(r"<!-- checked prose -->(.*?)<!-- /checked prose -->", re.S)
RESULT_FILE = re.compile(r"([\w-]+\.csv)\b|\b(results/json)/")  # a results table, or the records' folder


def render_block(name: str, results: Path, partial: bool = False) -> str:
    """Block ``name`` of :data:`BLOCKS` from the CSVs under ``results``. A missing CSV, or one
    without the rows its section must show, is an error, unless ``partial``: then the section says
    what is missing and how to make it."""
    if name not in BLOCKS:
        raise ValueError(f"no rendered block {name!r}; the blocks are {', '.join(BLOCKS)}")

    def body(fn: Renderer) -> str:
        try:
            return fn(results)
        except (FileNotFoundError, IncompleteResults) as err:
            if not partial:
                raise
            return f"Not in this run yet: {err}."

    return "\n\n".join(body(fn) if title is None else f"### {title}\n\n{body(fn)}" for title, fn in BLOCKS[name])


def blocks_in(page: str) -> list[str]:
    """The names of the rendered blocks a page holds, in order."""
    return [m.group(2) for m in RENDERED.finditer(page)]


def fill_page(page: str, results: Path, partial: bool = False) -> str:
    """``page`` with every rendered block replaced by a fresh rendering."""
    return RENDERED.sub(
        lambda m: m.group(1) + render_block(m.group(2), results, partial) + "\n" + m.group(4).lstrip("\n"), page
    )


def unsupported_prose_numbers(page: str, results: Path) -> list[str]:
    """The numbers of the page's checked prose that the CSV rows each block cites do not hold."""
    return [n for prose in CHECKED.findall(page) for n in unsupported_numbers(prose, results)]


def missing_result_files(page: str, results: Path) -> list[str]:
    """The results files a page names (``NAME.csv``, ``results/json/``) that ``results`` does not
    hold: a reader following the page would find nothing there."""
    named = {m.group(1) or "json/" for m in RESULT_FILE.finditer(page)}
    return sorted(name for name in named if not (results / name).exists())
