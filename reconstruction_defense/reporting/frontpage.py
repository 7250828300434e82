"""The README's map of the notebooks, with their measured wall times (the verdict above it is
:mod:`.verdict`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .sections import markdown, read_results

NOTEBOOKS = {  # stem: (the paper's evidence, what it shows)
    "01_pixel_depth_study": ("Figure 3", "accuracy of the bare classifier after k-level quantization"),
    "02_restorer_training": ("Figure 5", "classifiers and restorers trained; PSNR/SSIM; restored images"),
    "03_evaluation": ("Figures 6-8", "accuracy against attack strength, with and without the defense"),
    "04_transferability": ("Tables 1-3", "the defense in front of the other classifiers"),
    "05_comparison": ("Table 4", "Fashion-MNIST: the other defenses, and Table 4 under one threat model"),
    "06_adaptive_evaluation": ("beyond", "attacks that know the defense, minimal L2, sanity checks, ablation"),
    "07_adversarial_training_adaptive": ("beyond", "the restorer in front of an adversarially trained classifier"),
    "08_exact_evaluation": ("beyond", "exact robust accuracy at small ε beside the adaptive cascade"),
}


def _minutes(seconds: pd.Series) -> str:
    """A notebook's wall time: one run's, or the sum of the parts it was run in."""
    total = f"{seconds.sum() / 60:.1f} min"
    return total if len(seconds) == 1 else f"{total} in {len(seconds)} parts"


def notebook_map_section(results: Path) -> str:
    """One line per notebook: the paper's evidence, what it shows, its latest cold and warm wall
    time under the ``cpu`` profile (``rerun_times.csv``; a notebook run in parts, one row per
    part, shows their sum)."""
    times = read_results(results, "rerun_times.csv")
    times = times[times.profile == "cpu"].assign(stem=lambda t: t.notebook.str.replace(r"\.ipynb.*", "", regex=True))
    minutes = times.groupby(["stem", "run"]).seconds.agg(_minutes).to_dict()
    rows = [
        {
            "notebook": f"[{stem}](notebooks/{stem}.ipynb)",
            "evidence": evidence,
            "what it shows": what,
            "cpu, cold": minutes.get((stem, "cold"), "not run"),
            "cpu, warm": minutes.get((stem, "warm"), "not run"),
        }
        for stem, (evidence, what) in NOTEBOOKS.items()
    ]
    return markdown(pd.DataFrame(rows))
