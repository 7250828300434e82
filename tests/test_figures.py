"""Every figure in one theme: our results in the colour-blind palette with 95 % bands, the
paper's values as black markers, and byte-identical files when drawn twice."""

from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import seaborn as sns
from matplotlib.colors import to_hex

from reconstruction_defense.reporting import figures

matplotlib.use("Agg")
RESULTS = Path(__file__).parent.parent / "results"


def test_strength_panels_are_themed_banded_and_byte_stable(tmp_path):
    table = pd.read_csv(RESULTS / "fig678_strength.csv")
    table = table[table.dataset == table.dataset.iloc[0]]
    digests = []
    for i in range(2):
        fig = figures.strength_panels(table, "MNIST", {"fgsm": (0.2, 0.97)})
        ax = fig.axes[0]
        ours = [line for line in ax.lines if line.get_label() in ("none", "defense")]
        assert [to_hex(line.get_color()) for line in ours] == [to_hex(c) for c in sns.color_palette("colorblind")[:2]]
        paper = [line for line in ax.lines if line.get_label().startswith("paper")]
        assert len(paper) == 2 and all(to_hex(line.get_color()) == "#000000" for line in paper)
        assert len(ax.collections) == 2  # one 95 % band per curve
        digests.append([p.read_bytes() for p in figures.save(fig, tmp_path / f"f{i}")])
    assert digests[0] == digests[1]


def test_the_restorer_grid_draws_one_line_per_size_and_image_count_per_panel():
    rows = [
        {
            "dataset": d,
            "attack": a,
            "strength": 0.0 if a == "clean" else 0.05,
            "blocks": b,
            "feats": f,
            "train_images": n,
            "epochs": e,
            "accuracy": 0.8,
            "ci_low": 0.77,
            "ci_high": 0.83,
            "psnr_clean": 20.0 + e,
        }
        for d in ("MNIST", "Fashion-MNIST")
        for a in ("clean", "fgsm", "bim")
        for b, f in ((2, 16), (4, 32))
        for n in (1000, 5000)
        for e in (1, 2, 3)
    ]
    fig = figures.restorer_grid(pd.DataFrame(rows))
    assert len(fig.axes) == 6 and all(len(ax.lines) == 4 for ax in fig.axes)  # 2 sizes x 2 image counts
    assert all(len(ax.collections) == 4 for ax in fig.axes[1::3] + fig.axes[2::3])  # a band per line
    assert fig.axes[5].get_title() == "Fashion-MNIST: defended, BIM eps=0.05"


def test_the_restorer_tradeoff_puts_each_grid_point_at_its_clean_and_bim_accuracy_and_rings_the_shipped_one():
    rows = [
        {"dataset": "Fashion-MNIST", "attack": a, "strength": 0.0 if a == "clean" else 0.05, "blocks": b,
         "feats": f, "train_images": 55_000, "epochs": e, "accuracy": acc, "ci_low": acc - 0.02, "ci_high": acc + 0.02}
        for b, f in ((2, 16), (4, 32))
        for e in (1, 2)
        for a, acc in (("clean", 0.85 + 0.01 * e), ("bim", 0.6 + 0.1 * e + 0.01 * b))
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    fig = figures.restorer_tradeoff(table, {"Fashion-MNIST": (4, 32, 55_000, 2)})
    (ax,) = fig.axes
    ring = next(line for line in ax.lines if line.get_label() == "shipped")
    assert list(ring.get_xdata()) == pytest.approx([0.87]) and list(ring.get_ydata()) == pytest.approx([0.84])
    sizes = {c.get_label(): c.lines[0] for c in ax.containers}  # one errorbar series per size
    assert sorted(sizes) == ["2x16", "4x32"]
    assert list(sizes["2x16"].get_xdata()) == pytest.approx([0.86, 0.87])
    assert list(sizes["2x16"].get_ydata()) == pytest.approx([0.72, 0.82])
    elsewhere = figures.restorer_tradeoff(table, {"Fashion-MNIST": (8, 64, 55_000, 1)})  # not in the grid
    assert len(next(line for line in elsewhere.axes[0].lines if line.get_label() == "shipped").get_xdata()) == 0
