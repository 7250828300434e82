import re
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import reconstruction_defense
from reconstruction_defense.attacks.registry import PAPER_ATTACKS
from reconstruction_defense.config.profiles import PROFILES, get_profile, recipe_for
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.experiments.comparison import comparison_levels
from reconstruction_defense.experiments.transfer import transfer_archs
from reconstruction_defense.reporting.paper import (
    beside_paper,
    comparison_beside_paper,
    comparison_table,
    paper_relation,
    transfer_tables,
)

PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "000_647946890df9be66.txt"

ROOT = Path(__file__).resolve().parent.parent


def test_profiles():
    assert set(PROFILES) == {"smoke", "cpu", "paper"}
    assert get_profile("auto").name in ("cpu", "paper")
    assert get_profile("smoke", data={"n_test": 7}).data.n_test == 7
    assert get_profile("smoke", **{"data.n_test": 7, "seed": 3}).data == replace(PROFILES["smoke"].data, n_test=7)
    assert get_profile("smoke", data={"n_test": None}, seed=None) == get_profile("smoke")  # None keeps the default
    with pytest.raises(ValueError, match="valid: auto, smoke, cpu, paper"):
        get_profile("gpu")
    with pytest.raises(ValueError, match="unknown profile field"):
        get_profile("cpu", epochs=3)
    with pytest.raises(ValueError, match=r"\['classifier.epoch'\]; valid: \['classifier.arch'"):
        get_profile("cpu", classifier={"epoch": 3})
    assert get_profile("paper").classifier.arch == "resnet50"


def test_every_profile_field_is_read_somewhere():
    """No dead fields: each leaf of the nested profile is read as an attribute (``.name``) by the
    package or a notebook."""
    package = Path(reconstruction_defense.__file__).parent
    source = "\n".join(p.read_text() for p in [*package.rglob("*.py"), *(package.parent / "notebooks").glob("*.ipynb")])
    leaves = {k for sub in asdict(get_profile("cpu")).values() if isinstance(sub, dict) for k in sub}
    unread = sorted(k for k in leaves if not re.search(rf"\.{k}\b", source))
    assert unread == []


def test_paper_recipe():
    assert recipe_for("mnist").k == 2 and recipe_for("fashion_mnist").k == 4
    assert [recipe_for(d).table_eps for d in ("mnist", "fashion_mnist", "cifar10")] == [0.15, 0.05, 0.005]


def _paper_rows(text):
    """Rows 'Network<TAB>99%<TAB>...' of Tables 1-4 as printed in the paper's text."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        percents = [c for c in cells if re.fullmatch(r"[\d/%]+", c)]
        if len(percents) == 5:
            rows.append((cells[len(cells) - 6], percents))
    return rows


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text lives in ../shared (CI has it)")
def test_published_numbers_match_the_paper_text():
    rows = _paper_rows(PAPER.read_text())
    transfer = transfer_tables()
    ours = []
    for _, grp in transfer.groupby(["table", "dataset", "network", "defended"], sort=False):
        ours.append([f"{round(a * 100)}%" for a in grp.accuracy])
    printed = [p for _, p in rows[:18]]
    assert printed == ours
    comparison = comparison_table()
    pairs = [
        [
            f"{round(a * 100):02d}%/{round(b * 100):02d}%"
            for a, b in zip(g[g.level == 0].accuracy, g[g.level == 1].accuracy)
        ]
        for _, g in comparison.groupby("method", sort=False)
    ]
    assert len(rows) == 25 and [p for _, p in rows[18:]] == pairs


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text lives in ../shared (CI has it)")
def test_figure_end_points_are_quoted_from_the_paper_text():
    from reconstruction_defense.reporting.paper import FIGURE_SENTENCES, figure_end_points

    text = " ".join(PAPER.read_text().split())
    for dataset, sentence in FIGURE_SENTENCES.items():
        assert sentence in text, dataset
        assert all(0 <= lo <= hi <= 1 for lo, hi in figure_end_points(dataset).values())
    assert figure_end_points("cifar10")["deepfool"] == (0.18, 0.87)
    assert FIGURE_SENTENCES["mnist"].replace("20% to 97%", "20% to 79%") not in text  # a typo is caught


def test_transfer_classifiers_follow_each_paper_table():
    cpu = get_profile("cpu")
    assert transfer_archs(cpu, "mnist") == ("fast_cnn", "lenet", "small_inception")
    assert transfer_archs(cpu, "fashion_mnist") == ("fast_cnn", "small_inception", "resnet32")
    assert transfer_archs(cpu, "cifar10") == ("fast_cnn", "small_inception", "resnet32")
    assert transfer_archs(cpu, "my_folder") == ("fast_cnn", "lenet", "small_inception", "resnet32")


def test_table4_strengths_are_the_table_and_the_largest_eps():
    weak, strong = comparison_levels(get_profile("cpu"), "fashion_mnist")
    assert weak == [("clean", 0), ("fgsm", 0.05), ("bim", 0.05), ("deepfool", 10), ("cw", 10)]
    assert strong == [("clean", 0), ("fgsm", 0.1), ("bim", 0.1), ("deepfool", 50), ("cw", 50)]


def test_table4_side_by_side_matches_method_attack_and_level():
    ours = pd.DataFrame(
        {
            "method": ["Our Method", "Our Method", "JPEG"],
            "attack": ["bim", "bim", "bim"],
            "level": [0, 1, 1],
            "strength": [0.05, 0.1, 0.1],
            "accuracy": [0.5] * 3,
            "ci_low": [0.4] * 3,
            "ci_high": [0.6] * 3,
            "implementation": ["ours", "ours", "implemented here"],
        }
    )
    side = comparison_beside_paper(ours)
    assert side.paper.tolist() == ["87%", "86%", "-"]
    assert side["paper vs ours"].tolist() == ["above", "above", "-"]  # 87 % lies above [40 %, 60 %]
    assert side.ours.iloc[0] == "50.0% [40.0%, 60.0%]"
    assert side.strength.tolist() == ["eps=0.05", "eps=0.1", "eps=0.1"]
    assert side.attack.tolist() == ["BIM"] * 3  # keys in the table, display names where it is shown


def test_table4_names_a_re_implemented_baseline_and_its_size_beside_the_papers_number():
    """PixelDefend and ComDefend are small CPU re-implementations: the table and its figure say
    so, with the parameter count, next to the paper's value for the original."""
    import matplotlib

    from reconstruction_defense.experiments.comparison import Contender, implementation
    from reconstruction_defense.method import build_classifier
    from reconstruction_defense.method.baselines import ComDefend
    from reconstruction_defense.reporting import figures

    matplotlib.use("Agg")
    info = load_dataset("fashion_mnist", "test", n=1).info
    comdefend = ComDefend(1)
    params = sum(p.numel() for p in comdefend.parameters())
    label = implementation("ComDefend", Contender(build_classifier("lenet", info), comdefend))
    assert label == f"re-implementation, {params:,} params"
    assert implementation("Normal", Contender(build_classifier("lenet", info), None)) == "implemented here"
    rows = [
        {"method": m, "implementation": i, "attack": a, "level": level, "strength": s, "accuracy": 0.5}
        for m, i in (("Normal", "implemented here"), ("ComDefend", label))
        for a, s in (("clean", 0.0), *((a, 0.05) for a in PAPER_ATTACKS))
        for level in (0, 1)
    ]
    ours = pd.DataFrame(rows).assign(ci_low=0.4, ci_high=0.6)
    side = comparison_beside_paper(ours)
    shown = side[side.method.str.startswith("ComDefend")]
    assert set(shown.method) == {f"ComDefend (re-implementation, {params:,} params)"}
    assert (shown.paper != "-").all()  # still beside the paper's ComDefend row
    legend = figures.comparison_bars(ours).axes[1].get_legend().get_texts()
    assert f"ComDefend (re-implementation, {params:,} params)" in [t.get_text() for t in legend]


def test_the_side_by_side_says_where_the_papers_value_lies_against_our_interval():
    ours = pd.DataFrame(
        {
            "attack": ["fgsm", "fgsm"],
            "strength": [0.15, 0.15],
            "accuracy": [0.40, 0.97],
            "ci_low": [0.37, 0.96],
            "ci_high": [0.43, 0.98],
            "defense": ["none", "ours"],
        }
    )
    side = beside_paper(ours, "mnist", "resnet50")  # the paper: 48 % without, 98 % with the defense
    assert side[["paper no defense", "paper defense"]].values.tolist() == [["48%", "98%"]]
    assert side[["paper vs ours no defense", "paper vs ours defense"]].values.tolist() == [["above", "inside"]]
    assert [paper_relation(0.30, 0.37, 0.43), paper_relation(0.37, 0.37, 0.43)] == ["below", "inside"]


def test_the_seed_spread_sits_beside_the_interval_of_the_main_row():
    ours = pd.DataFrame(
        {
            "attack": ["fgsm", "fgsm"],
            "strength": [0.15, 0.15],
            "accuracy": [0.40, 0.97],
            "ci_low": [0.37, 0.96],
            "ci_high": [0.43, 0.98],
            "defense": ["none", "ours"],
        }
    )
    spread = pd.DataFrame(
        {
            "defense": ["none", "ours"],
            "attack": ["fgsm", "fgsm"],
            "strength": [0.15, 0.15],
            "mean": [0.35, 0.965],
            "low": [0.30, 0.96],
            "high": [0.40, 0.97],
            "seeds": [3, 3],
        }
    )
    side = beside_paper(ours, "mnist", "resnet50", spread)
    assert side["seeds no defense"].iloc[0] == "35.0% (30.0%-40.0%), 3 seeds"
    assert side["seeds defense"].iloc[0] == "96.5% (96.0%-97.0%), 3 seeds"
    assert beside_paper(ours, "mnist", "resnet50", spread.iloc[:0])["seeds defense"].iloc[0] == "-"


def test_the_restorer_is_chosen_on_validation_images_never_on_test_images(tmp_path, monkeypatch, benchmark_script):
    """The grid scores every point on held-out training images, records the split per row, and
    the knee refuses a table with a row scored anywhere else (planted: one test row)."""
    from reconstruction_defense.data.splits import validation_indices

    grid = benchmark_script("restorer_grid")
    seen, evaluate = [], grid.evaluate
    monkeypatch.setattr(
        grid, "evaluate", lambda model, images, *a, **k: seen.append(images) or evaluate(model, images, *a, **k)
    )
    out = tmp_path / "grid.csv"
    args = SimpleNamespace(profile="smoke", data_root=None, workdir=tmp_path, out=out, epochs=1)
    grid.grid_point("mnist", 1, 4, 200, args)
    assert seen and all(s.split == "validation" for s in seen)
    assert all(torch.isin(s.indices, validation_indices(60_000)).all() for s in seen)
    table = pd.read_csv(out)
    assert set(table.split) == {"validation"} and len(grid.knees(table)) == 1
    with pytest.raises(ValueError, match="scored on test"):
        grid.knees(pd.concat([table, table.iloc[:1].assign(split="test")]))


def test_the_cpu_restorers_are_the_knees_of_the_measured_grid(benchmark_script):
    """The profile's restorer per dataset is the grid point the CSV supports."""
    root = ROOT
    knees = benchmark_script("restorer_grid").knees(pd.read_csv(root / "results" / "restorer_grid.csv"))
    names = {"MNIST": "mnist", "Fashion-MNIST": "fashion_mnist", "CIFAR-10 (JPEG q75 copy)": "cifar10"}
    full = {"mnist": 55_000, "fashion_mnist": 55_000, "cifar10": 45_000}  # the training split
    restorer = get_profile("cpu").restorer
    assert set(knees.dataset.map(names)) == set(full)
    for knee in knees.itertuples():
        cfg = restorer.for_dataset(names[knee.dataset])
        n_train = full[names[knee.dataset]] if cfg.n_train is None else cfg.n_train
        assert (cfg.n_blocks, cfg.n_feats, n_train, cfg.epochs) == (
            knee.blocks,
            knee.feats,
            knee.train_images,
            knee.epochs,
        ), knee
    assert restorer.for_dataset("somewhere/else") == replace(restorer, dataset_changes=())
