"""Plots of the paper's figures from tidy result tables, saved byte-stable (PNG and PDF), all in
the theme of :mod:`.style` (set when this module is imported)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from ..attacks.registry import ATTACKS, PAPER_ATTACKS, display_name
from ..data.outputs import atomic_write
from .paper import comparison_table, method_label
from .style import BAND_ALPHA, PAPER_MARKERS, apply

apply()


def save(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``stem``.png and ``stem``.pdf with no timestamps, so reruns are byte-stable;
    each file is written atomically (an interrupted save leaves the previous figure intact)."""
    stem = Path(stem)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    for path, options in (
        (png, {"dpi": 120, "metadata": {"Software": None}}),
        (pdf, {"metadata": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}),
    ):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:], bbox_inches="tight", **options)
        atomic_write(path, buffer.getvalue())
    return [png, pdf]


def pixel_depth_curves(table: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Figure 3: accuracy of the undefended classifier after k-level quantization vs k, one curve
    per attack strength with its 95% band, the clean curve dashed. ``table`` is :func:`evaluate`'s
    output with defenses named ``k=<k>``."""
    ax = ax or plt.subplots(figsize=(4.5, 3.2))[1]
    data = table.assign(k=table.defense.str.removeprefix("k=").astype(int))
    for (attack, strength), grp in data.groupby(["attack", "strength"], sort=False):
        grp = grp.sort_values("k")
        clean = attack == "clean"
        ax.plot(
            grp.k,
            grp.accuracy,
            "k--" if clean else "o-",
            ms=3,
            label="clean" if clean else f"{display_name(attack)} eps={strength:g}",
        )
        ax.fill_between(grp.k, grp.ci_low, grp.ci_high, alpha=BAND_ALPHA, color=ax.lines[-1].get_color())
    ax.set(xscale="log", xlabel="k (pixel levels)", ylabel="accuracy", ylim=(0, 1.02))
    ax.set_title(title, fontsize=8)
    ax.set_xticks(sorted(data.k.unique()), [str(k) for k in sorted(data.k.unique())])
    ax.legend(fontsize=7)
    return ax


def strength_panels(
    table: pd.DataFrame, title: str = "", paper: dict[str, tuple[float, float]] | None = None
) -> plt.Figure:
    """Figures 6-8: accuracy vs attack strength without and with the defense, one panel per
    attack, 95% Wilson band shaded. ``paper`` maps an attack key to the paper's (without, with
    the defense) accuracy at its figure's largest strength (:func:`~.paper.figure_end_points`),
    drawn at our sweep's largest strength, which stands for it."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), sharey=True)
    for ax, attack in zip(axes, PAPER_ATTACKS):
        grp = table[table.attack == attack]
        for defense, line in grp.groupby("defense", sort=False):
            line = line.sort_values("strength")
            ax.plot(line.strength, line.accuracy, "o-", ms=3, label=f"{defense}")
            ax.fill_between(line.strength, line.ci_low, line.ci_high, alpha=BAND_ALPHA)
        if paper and attack in paper:
            end = grp.strength.max()
            for value, marker, label in (
                (paper[attack][0], "X", "paper, no defense (end point)"),
                (paper[attack][1], "*", "paper, defense (end point)"),
            ):
                ax.plot([end], [value], marker=marker, clip_on=False, label=label, **PAPER_MARKERS)
        is_eps = ATTACKS[attack].strength == "eps"
        ax.set(title=display_name(attack), xlabel="eps" if is_eps else "max iterations", ylim=(0, 1.02))
        if not is_eps:
            ax.set_xscale("log")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10, y=1.03)
    return fig


def example_grid(
    rows: dict[str, Sequence[Tensor]], titles: dict[str, Sequence[str]], columns: Sequence[str], suptitle: str = ""
) -> plt.Figure:
    """Figure 5: a grid of images; ``rows`` maps a row name (clean / adversarial / quantized /
    restored) to one image (C, H, W) per column, ``titles`` the text above each image."""
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(1.7 * len(columns), 1.8 * len(rows)), squeeze=False)
    for r, (row_name, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            ax = axes[r][c]
            img = image.detach().cpu()
            ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[row_name][c], fontsize=7)
            if c == 0:
                ax.set_ylabel(row_name, fontsize=8)
            if r == 0:
                ax.set_title(f"{columns[c]}\n{titles[row_name][c]}", fontsize=7)
    fig.suptitle(suptitle, fontsize=9)
    return fig


def comparison_bars(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Table 4 as bars: one panel per strength level, one group per attack, one bar per method
    with its 95% Wilson interval; the paper's value for the same cell drawn as a black dot;
    re-implemented methods labelled as such (:func:`~reconstruction_defense.reporting.paper.method_label`)."""
    paper = comparison_table().set_index(["method", "attack", "level"]).accuracy
    methods = list(dict.fromkeys(table.method))
    labels = dict(zip(table.method, map(method_label, table.method, table.implementation)))
    attacks = ["clean", *PAPER_ATTACKS]
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.4), sharey=True)
    for level, ax in enumerate(axes):
        rows = table[table.level == level].set_index(["method", "attack"])
        for m, method in enumerate(methods):
            xs = [a + (m - (len(methods) - 1) / 2) * width for a in range(len(attacks))]
            r = rows.loc[method].reindex(attacks)
            errors = [r.accuracy - r.ci_low, r.ci_high - r.accuracy]
            ax.bar(xs, r.accuracy, width, yerr=errors, capsize=2, label=labels[method])
            ref = [paper.get((method, a, level)) for a in attacks]
            ax.plot(
                xs,
                [float("nan") if v is None else v for v in ref],
                marker="D",
                label="paper" if m == 0 else None,
                **{**PAPER_MARKERS, "markersize": 3},
            )
        strengths = rows.reset_index().drop_duplicates("attack").set_index("attack").strength
        ax.set_xticks(
            range(len(attacks)), [a if a == "clean" else f"{display_name(a)}\n{strengths[a]:g}" for a in attacks]
        )
        ax.set(title=f"strength level {level}", ylim=(0, 1.02))
    axes[0].set_ylabel("accuracy")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10, y=1.02)
    return fig


def adaptive_curves(table: pd.DataFrame, ax: plt.Axes, paper_eps: float, title: str = "") -> plt.Axes:
    """Notebook 06: accuracy vs eps on one axes for the undefended classifier (worst case over
    attacks), the defense under the paper's protocol (BIM on the bare classifier) and under
    adaptive attacks (each thin, the per-image worst case thick), 95% intervals shaded; the
    paper's eps marked."""

    def curve(threat: str, attack: str, style: str, label: str, **kw) -> None:
        r = table[(table.threat == threat) & (table.attack.isin([attack, "clean"]))].sort_values("eps")
        ax.plot(r.eps, r.accuracy, style, label=label, ms=3, **kw)
        if kw.get("lw", 1.5) > 1:
            ax.fill_between(r.eps, r.ci_low, r.ci_high, alpha=BAND_ALPHA, color=ax.lines[-1].get_color())

    curve("undefended", "worst case", "k--", "no defense (worst case)")
    curve("paper", "bim", "o-", "defense, paper's protocol (BIM)")
    for attack in table[(table.threat == "adaptive") & ~table.attack.isin(["clean", "worst case"])].attack.unique():
        curve("adaptive", attack, "-", None, lw=0.7, alpha=0.5)
    curve("adaptive", "worst case", "s-", "defense, adaptive (worst case)", lw=2)
    ax.axvline(paper_eps, color="grey", ls=":", lw=1)
    ax.set(xlabel="eps (L-inf)", ylabel="accuracy", ylim=(0, 1.02))
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6)
    return ax


def restorer_grid(table: pd.DataFrame) -> plt.Figure:
    """The restorer grid (``benchmarks/restorer_grid.py``): per dataset (rows), PSNR of restored
    clean validation images and the defended accuracy under FGSM and BIM at the paper's table eps
    (columns) against training epochs, one line per restorer size and training-image count, BIM
    and FGSM with their 95 % bands."""
    datasets = table.dataset.unique()
    fig, axes = plt.subplots(len(datasets), 3, figsize=(12, 3.2 * len(datasets)), squeeze=False)
    for row, dataset in zip(axes, datasets):
        data = table[table.dataset == dataset]
        for (blocks, feats, images), grp in data.groupby(["blocks", "feats", "train_images"]):
            label = f"{blocks}x{feats}, {images:,} images"
            clean = grp[grp.attack == "clean"].sort_values("epochs")
            row[0].plot(clean.epochs, clean.psnr_clean, "o-", ms=3, label=label)
            for ax, attack in zip(row[1:], ("fgsm", "bim")):
                g = grp[grp.attack == attack].sort_values("epochs")
                ax.plot(g.epochs, g.accuracy, "o-", ms=3, color=row[0].lines[-1].get_color(), label=label)
                ax.fill_between(g.epochs, g.ci_low, g.ci_high, alpha=BAND_ALPHA, color=ax.lines[-1].get_color())
        eps = data[data.attack == "bim"].strength.iloc[0]
        row[0].set(title=f"{dataset}: PSNR, clean validation images", xlabel="epochs", ylabel="dB")
        for ax, attack in zip(row[1:], ("FGSM", "BIM")):
            ax.set(title=f"{dataset}: defended, {attack} eps={eps:g}", xlabel="epochs", ylabel="accuracy")
        row[0].legend(fontsize=7)
        for ax in row:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def restorer_tradeoff(table: pd.DataFrame, chosen: dict[str, tuple[int, int, int, int]]) -> plt.Figure:
    """The restorer's clean-vs-robust trade-off (notebook 02, from ``benchmarks/restorer_grid.py``):
    per dataset, each grid point (restorer size, training images, epochs) at its defended clean
    accuracy (x) and defended BIM accuracy at the paper's table eps (y) on the validation split,
    with 95 % intervals both ways; ``chosen`` (dataset -> blocks, features, images, epochs) is the
    profile's restorer, ringed."""
    datasets = table.dataset.unique()
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    keys = ["blocks", "feats", "train_images", "epochs"]
    for ax, dataset in zip(axes[0], datasets):
        data = table[table.dataset == dataset]
        wide = data[data.attack == "clean"].merge(data[data.attack == "bim"], on=keys, suffixes=("_clean", "_bim"))
        for (blocks, feats), grp in wide.groupby(["blocks", "feats"]):
            ax.errorbar(
                grp.accuracy_clean,
                grp.accuracy_bim,
                xerr=[grp.accuracy_clean - grp.ci_low_clean, grp.ci_high_clean - grp.accuracy_clean],
                yerr=[grp.accuracy_bim - grp.ci_low_bim, grp.ci_high_bim - grp.accuracy_bim],
                fmt="o",
                ms=4,
                capsize=2,
                label=f"{blocks}x{feats}",
            )
        pick = wide[(wide[keys] == chosen.get(dataset, (0, 0, 0, 0))).all(axis=1)]
        ax.plot(pick.accuracy_clean, pick.accuracy_bim, "o", ms=14, mfc="none", color="black", label="shipped")
        eps = data[data.attack == "bim"].strength.iloc[0]
        ax.set(title=dataset, xlabel="defended clean accuracy", ylabel=f"defended BIM accuracy, eps={eps:g}")
        ax.legend(fontsize=7, title="blocks x features", title_fontsize=7)
    fig.tight_layout()
    return fig


def exact_panels(summary: pd.DataFrame, by_budget: pd.DataFrame) -> plt.Figure:
    """Notebook 08, per dataset (rows): left, robust accuracy vs eps found by the adaptive cascade
    (an upper bound) and by exact search (the bar spans robust to robust + undecided), each with
    its 95 % band; right, the images left undecided vs the search budget, one line per eps."""
    datasets = summary.dataset.unique()
    fig, axes = plt.subplots(len(datasets), 2, figsize=(9, 3.2 * len(datasets)), squeeze=False)
    for (left, right), dataset in zip(axes, datasets):
        s = summary[summary.dataset == dataset].sort_values("eps")
        left.plot(s.eps, s.attacked, "s-", ms=3, label="adaptive cascade (upper bound)")
        left.fill_between(
            s.eps, s.attacked_ci_low, s.attacked_ci_high, alpha=BAND_ALPHA, color=left.lines[-1].get_color()
        )
        left.errorbar(
            s.eps,
            s.exact_low,
            yerr=[0 * s.exact_low, s.exact_high - s.exact_low],
            fmt="o-",
            ms=3,
            capsize=3,
            label="exact (bar: undecided images)",
        )
        left.fill_between(s.eps, s.ci_low, s.ci_high, alpha=BAND_ALPHA, color=left.lines[-1].get_color())
        left.set(title=f"{dataset}: robust accuracy", xlabel="eps (L-inf)", ylabel="accuracy", ylim=(0, 1.02))
        left.legend(fontsize=7)
        for eps, g in by_budget[by_budget.dataset == dataset].groupby("eps"):
            right.plot(g.budget, g.undecided / g.n, "o-", ms=3, label=f"eps {eps:g}")
        right.set(
            title=f"{dataset}: undecided images",
            xlabel="budget (k-level images per test image)",
            ylabel="share of test images",
            xscale="log",
            ylim=(0, 1.02),
        )
        right.legend(fontsize=7)
    fig.tight_layout()
    return fig
