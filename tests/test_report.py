"""The report: the README's and the docs pages' tables rendered from the CSVs, each block on one
page, the committed pages equal to a fresh rendering of the committed results, and every number of
their checked prose held by the rows it cites (a planted stale number is caught)."""

from pathlib import Path

import pandas as pd
import pytest

from reconstruction_defense.cli.report import main as report_main
from reconstruction_defense.reporting.frontpage import dataset_key, verdict_section
from reconstruction_defense.reporting.pages import (
    BLOCKS,
    blocks_in,
    fill_page,
    render_block,
    unsupported_prose_numbers,
)
from reconstruction_defense.reporting.sections import cw_seeds_section, main_command_section

REPO = Path(__file__).parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_each_block_is_rendered_on_exactly_one_page():
    shown = [name for page in PAGES for name in blocks_in(page.read_text())]
    assert sorted(shown) == sorted(BLOCKS)
    assert blocks_in((REPO / "README.md").read_text()) == ["verdict", "stale", "notebooks"]


def test_committed_pages_equal_a_fresh_rendering_of_the_committed_results(monkeypatch):
    monkeypatch.chdir(REPO)  # the missing-file notes name results/ as the report was run
    for page in PAGES:
        text = page.read_text()
        assert fill_page(text, Path("results"), partial=True) == text, f"{page.name}: rerun `recdef report`"


def test_the_pages_prose_states_only_numbers_its_cited_rows_hold():
    checked = [p.name for p in PAGES if "<!-- checked prose -->" in p.read_text()]
    assert {"README.md", "results.md", "adaptive.md", "exact.md"} <= set(checked)
    for page in PAGES:
        assert unsupported_prose_numbers(page.read_text(), REPO / "results") == [], page.name


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Does the paper hold?", "## Two commands"]
    assert "python -m pytest -q" in readme and "rerun --profile cpu" in readme
    for link in ("docs/running.md", "docs/adaptive.md", "docs/exact.md", "docs/layout.md"):
        assert f"]({link})" in readme and (REPO / link).exists()


def test_the_verdict_puts_the_papers_value_beside_our_interval():
    results = REPO / "results"
    strength = pd.read_csv(results / "fig678_strength.csv")
    text = verdict_section(results)
    assert [line for line in text.splitlines() if line.startswith("**")] == [
        f"**{d}** (1,000 test images)" for d in strength.dataset.unique()
    ]
    bim = strength[(strength.dataset == "MNIST") & (strength.attack == "bim") & (strength.strength == 0.15)]
    ours = bim[bim.defense == "defense"].iloc[0]
    assert (
        f"| BIM, paper's protocol | ε = 0.15 | 99% | {ours.accuracy:.1%} [{ours.ci_low:.1%}, {ours.ci_high:.1%}]"
        in text
    )
    assert dataset_key("CIFAR-10 (JPEG q75 copy)") == "cifar10" and dataset_key("Fashion-MNIST") == "fashion_mnist"
    with pytest.raises(ValueError, match="none of the built-in datasets"):
        dataset_key("SVHN")


def test_report_fills_a_page_keeps_the_rest_and_names_a_missing_csv(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame({"notebook": ["01_a.ipynb"], "profile": ["smoke"], "seconds": [90.0]}).to_csv(
        results / "rerun_times.csv", index=False
    )
    with pytest.raises(FileNotFoundError, match="fig678_strength.csv is missing: run"):
        render_block("verdict", results)
    assert "| 01_a.ipynb | smoke | not recorded | 1.5 | not recorded | not recorded |" in render_block(
        "wall-time", results
    )
    page = tmp_path / "page.md"
    page.write_text("# title\n<!-- rendered: wall-time -->\nold numbers\n<!-- /rendered -->\n## After\n")
    assert report_main(["--results", str(results), "--pages", str(page)]) == 0
    new = page.read_text()
    assert new.startswith("# title\n") and new.endswith("## After\n") and "old numbers" not in new
    assert "| 01_a.ipynb | smoke |" in new
    with pytest.raises(ValueError, match="no rendered block 'nope'"):
        fill_page("<!-- rendered: nope -->\nx\n<!-- /rendered -->", results)


def test_an_empty_block_is_filled_without_swallowing_what_follows_it():
    """Planted: an empty block before prose and another block; both fill, the prose stays."""
    page = "<!-- rendered: stale -->\n<!-- /rendered -->\nprose kept\n"
    page += "<!-- rendered: wall-time -->\nan old body\n<!-- /rendered -->\n"
    filled = fill_page(page, REPO / "results")
    assert "prose kept" in filled and blocks_in(filled) == ["stale", "wall-time"] and "an old body" not in filled
    assert filled.startswith("<!-- rendered: stale -->\n**Stale:**")


def test_a_stale_row_is_one_whose_recorded_attack_version_is_not_current(tmp_path):
    """Planted: a row recorded with C&W v2 (now v3), and rows that name attacks but record none."""
    from reconstruction_defense.attacks.registry import ATTACKS
    from reconstruction_defense.attacks.versions import attack_code
    from reconstruction_defense.reporting.provenance import stale_rows

    labels = pd.Series(["clean", "bim", "cw", "worst case"])
    current = attack_code(labels)
    assert current.tolist() == ["", f"bim v{ATTACKS['bim'].version}", f"cw v{ATTACKS['cw'].version}", current[3]]
    assert set(current[3].split(", ")) == {current[1], current[2]}  # a worst case rests on every attack named
    pd.DataFrame({"attack": labels, "attack_code": current}).to_csv(tmp_path / "fresh.csv", index=False)
    pd.DataFrame({"attack": labels, "attack_code": current.replace(current[2], "cw v2")}).to_csv(
        tmp_path / "old.csv", index=False
    )
    pd.DataFrame({"attack": labels}).to_csv(tmp_path / "unrecorded.csv", index=False)
    table = stale_rows(tmp_path).set_index("file")
    assert table.stale.to_dict() == {"fresh.csv": 0, "old.csv": 1, "unrecorded.csv": 3}
    assert table.why["old.csv"] == f"cw v2 (now v{ATTACKS['cw'].version})"
    assert table.why["unrecorded.csv"] == "version not recorded"


def test_a_row_whose_models_are_not_recorded_or_not_shipped_is_stale(tmp_path):
    """Planted: a row naming a digest outside the manifest, and a file recording no models."""
    from reconstruction_defense.reporting.provenance import unshipped_rows

    shipped = {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}
    models = ["aaaaaaaaaaaa", "aaaaaaaaaaaa + bbbbbbbbbbbb", "aaaaaaaaaaaa + cccccccccccc"]
    pd.DataFrame({"accuracy": [0.5, 0.6, 0.7], "models": models}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"accuracy": [0.5]}).to_csv(tmp_path / "old.csv", index=False)
    pd.DataFrame({"seconds": [1.0]}).to_csv(tmp_path / "rerun_times.csv", index=False)
    table = unshipped_rows(tmp_path, shipped).set_index("file")
    assert table.stale.to_dict() == {"old.csv": 1, "t.csv": 1}
    assert table.why["t.csv"] == "weights not shipped: cccccccccccc"
    assert table.why["old.csv"] == "weights not recorded"


def test_report_exits_1_on_a_planted_stale_number_in_a_page(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame({"dataset": ["MNIST"], "accuracy": [0.941]}).to_csv(results / "t.csv", index=False)
    page = tmp_path / "page.md"
    cite = "<!-- cite t.csv: dataset=MNIST -->"
    page.write_text(f"<!-- checked prose -->\nIt holds 94.1 % {cite}\n<!-- /checked prose -->\n")
    assert report_main(["--results", str(results), "--pages", str(page)]) == 0
    page.write_text(f"<!-- checked prose -->\nIt holds 94.2 % {cite}\n<!-- /checked prose -->\n")
    assert report_main(["--results", str(results), "--pages", str(page)]) == 1
    assert "states 94.2 %" in capsys.readouterr().err


def test_main_command_table_is_rendered_beside_table_1_from_its_csv():
    results = REPO / "results"
    table = pd.read_csv(results / "table_mnist_cpu.csv")
    rows = main_command_section(results).splitlines()[2:]
    assert len(rows) == table.attack.nunique() == 5
    clean = table[(table.attack == "clean") & (table.defense == "none")].iloc[0]
    assert rows[0].startswith(f"| clean | - | {clean.accuracy:.1%} [{clean.ci_low:.1%}, {clean.ci_high:.1%}] | 99% |")


def test_cw_seed_table_is_rendered_from_its_csv_and_names_the_worst_ratio():
    results = REPO / "results"
    table = pd.read_csv(results / "cw_deepfool_seeds.csv")
    assert table.ratio.max() <= 1.0 and (table.cw_success == 1.0).all()  # the benchmark's own bar
    assert {"AVX2", "AVX512"} <= set(table.kernels) and table.groupby("dataset").seed.nunique().min() >= 3
    text = cw_seeds_section(results)
    assert len(text.split("\n\n")[0].splitlines()) == 2 + len(table)
    worst = table.loc[table.ratio.idxmax()]
    assert f"Worst ratio: {worst.ratio:.3f} ({worst.dataset}, seed {worst.seed}, {worst.kernels} kernels" in text


def _prose(*blocks: str) -> str:
    return "<!-- checked prose -->\n" + "\n\n".join(blocks) + "\n<!-- /checked prose -->\n12.5%\n"


def test_prose_check_catches_typed_stale_and_uncited_numbers(tmp_path):
    pd.DataFrame(
        {
            "dataset": ["MNIST", "CIFAR"],
            "eps": [0.15, 0.005],
            "accuracy": [0.941, 0.3],
            "cell": ["61.4% [58.3%, 64.4%]", "1.0% [0.2%, 2.0%]"],
            "n": [1000, 1000],
            "median_l2": [2.8134, 0.25],
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    cite = "<!-- cite t.csv: dataset=MNIST -->"
    good = f"At ε = 0.15 (notebook 06, Table 4, k = 2, ResNet-20) 94.1 % [58.3 %, 64.4 %] of 1,000, L2 2.81 {cite}"
    assert unsupported_prose_numbers(_prose(good), tmp_path) == []
    checks = {  # planted: a typed number, another row's number, a derived one, an uncited block
        f"holds 94.2 % {cite}": "94.2 %",
        f"holds 30.0 % {cite}": "30.0 %",
        f"a gain of 3 points {cite}": "3",
        "holds 94.1 % (no citation)": "94.1 %",
    }
    for block, number in checks.items():
        problems = unsupported_prose_numbers(_prose(good, block), tmp_path)
        assert [p.split(" (in")[0] for p in problems if "binds no number" not in p] == [number]
    mnist, cifar = cite, "<!-- cite t.csv: dataset=CIFAR -->"
    both = f"MNIST holds 94.1 % at 0.15, CIFAR 30.0 % at 0.005 {mnist} {cifar}"
    assert unsupported_prose_numbers(_prose(both), tmp_path) == []
    bound = {  # planted: each number is held by a cited row, but not by the one it is bound to
        f"MNIST holds 94.1 % at 0.005, CIFAR 30.0 % at 0.15 {mnist} {cifar}": ["0.15"],  # swapped eps
        f"MNIST holds 30.0 %, CIFAR 94.1 % {mnist} {cifar}": ["94.1 %", "cite t.csv: dataset=MNIST binds no number"],
    }
    for block, numbers in bound.items():
        assert [p.split(" (in")[0] for p in unsupported_prose_numbers(_prose(block), tmp_path)] == numbers, block
    with pytest.raises(ValueError, match="no row matches"):
        unsupported_prose_numbers(_prose("1 % <!-- cite t.csv: dataset=SVHN -->"), tmp_path)
    with pytest.raises(ValueError, match="no column"):
        unsupported_prose_numbers(_prose("1 % <!-- cite t.csv: split=test -->"), tmp_path)
