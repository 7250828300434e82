"""The one look of every figure: seaborn's ``whitegrid`` theme at ``paper`` scale with its
colour-blind-safe palette for our results, and one black marker style for the paper's values,
so a reference value is never mistaken for a measurement of ours."""

from __future__ import annotations

import seaborn as sns

PAPER_MARKERS = {"color": "black", "linestyle": "none", "markersize": 7, "zorder": 5}  # + marker=
BAND_ALPHA = 0.2  # 95 % intervals drawn as bands (lines) or error bars (bars)


def apply() -> None:
    """Set the theme for every figure drawn after it (matplotlib's global style)."""
    sns.set_theme(
        context="paper",
        style="whitegrid",
        palette="colorblind",
        rc={"figure.dpi": 100, "savefig.dpi": 120, "legend.frameon": True},
    )
