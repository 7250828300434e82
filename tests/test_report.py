"""The report: the README's and the docs pages' tables rendered from the CSVs, each block on one
page, the committed pages equal to a fresh rendering of the committed results, and every number of
their checked prose held by the rows it cites (a planted stale number is caught)."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from reconstruction_defense.cli.report import main as report_main
from reconstruction_defense.reporting.pages import (
    BLOCKS,
    blocks_in,
    fill_page,
    missing_result_files,
    render_block,
    unsupported_prose_numbers,
)
from reconstruction_defense.reporting.sections import (
    cw_seeds_section,
    main_command_section,
    slowest_cells_section,
    timing_section,
)
from reconstruction_defense.reporting.verdict import Measured, dataset_key, verdict_section, verdict_word

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


def test_the_pages_name_no_results_file_that_is_missing(tmp_path, capsys):
    for page in PAGES:
        assert missing_result_files(page.read_text(), REPO / "results") == [], page.name
    planted = tmp_path / "page.md"  # a table no run writes any more, and the records' folder
    planted.write_text("See `table4_whitebox.csv` and results/json/ beside `table1.csv`.\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table1.csv").write_text("a\n1\n")
    assert missing_result_files(planted.read_text(), tmp_path / "results") == ["json/", "table4_whitebox.csv"]
    assert report_main(["--results", str(tmp_path / "results"), "--pages", str(planted)]) == 1
    assert "names json/, table4_whitebox.csv, missing from" in capsys.readouterr().err


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Does the paper hold?", "## Two commands"]
    assert "python -m pytest -q" in readme and "rerun --profile cpu" in readme
    for link in ("docs/running.md", "docs/adaptive.md", "docs/exact.md", "docs/layout.md"):
        assert f"]({link})" in readme and (REPO / link).exists()


def test_the_verdict_word_reads_the_papers_value_against_our_interval_spread_and_adaptive_worst_case():
    ours = Measured(0.95, 0.93, 0.965)
    assert verdict_word(0.95, ours, None, None) == "reproduced"
    assert verdict_word(0.99, ours, None, None) == "below"
    assert verdict_word(0.90, ours, None, None) == "above"
    assert verdict_word(0.98, ours, (0.94, 0.985), None) == "reproduced"  # a seed reaches the paper
    assert verdict_word(0.95, ours, None, Measured(0.5, 0.45, 0.55)) == "breaks under adaptive attack"
    assert verdict_word(0.95, ours, None, Measured(0.94, 0.92, 0.96)) == "reproduced"
    assert verdict_word(0.95, None, None, None) == "not run"


def _write_results(folder: Path, bim_defended: float = 0.97, adaptive_model: str = "") -> Path:
    """The CSVs the verdict reads, for MNIST and Fashion-MNIST, with known values."""
    folder.mkdir(exist_ok=True)
    model = "Fast CNN 32/64/128 (stand-in for ResNet-50)"
    strength = []
    for dataset, eps, maximum in (("MNIST", 0.15, 0.3), ("Fashion-MNIST", 0.05, 0.1)):
        for attack, s in [("clean", 0.0), ("fgsm", eps), ("bim", eps), ("fgsm", maximum), ("bim", maximum),
                          ("deepfool", 50.0), ("cw", 50.0)]:  # fmt: skip
            acc = bim_defended if (dataset, attack, s) == ("MNIST", "bim", 0.15) else 0.8
            strength.append((dataset, model, "defense", attack, s, acc, 1000, acc - 0.02, acc + 0.01))
    columns = ["dataset", "model", "defense", "attack", "strength", "accuracy", "n", "ci_low", "ci_high"]
    pd.DataFrame(strength, columns=columns).to_csv(folder / "fig678_strength.csv", index=False)
    adaptive = [("MNIST", adaptive_model or model, "adaptive", "worst case", 0.15, 0.6, 1000, 0.57, 0.63)]
    pd.DataFrame(adaptive, columns=[*columns[:3], "attack", "eps", *columns[5:]]).rename(
        columns={"defense": "threat"}
    ).to_csv(folder / "adaptive_accuracy.csv", index=False)
    l2 = [("MNIST", model, "adaptive", "worst case", 0.9, 100, 0.83, 0.94, 1.0, 2.1)]
    pd.DataFrame(l2, columns=["dataset", "model", "threat", "attack", "accuracy", "n", "ci_low", "ci_high", "l2",
                              "median_l2"]).to_csv(folder / "adaptive_l2.csv", index=False)  # fmt: skip
    spread = [  # notebook 04 names the defended rows by the defense (paper_protocol_table), not "defense"
        ("MNIST", model, "none", "bim", 0.15, 0.1, 0.05, 0.15, 3),
        ("MNIST", model, "quantize k=2 + restorer", "bim", 0.15, 0.975, 0.96, 0.99, 3),
    ]
    pd.DataFrame(spread, columns=[*columns[:5], "mean", "low", "high", "seeds"]).to_csv(
        folder / "seed_spread.csv", index=False
    )
    return folder


def test_the_verdict_renders_each_claim_from_the_csvs_and_follows_a_changed_row(tmp_path):
    text = verdict_section(_write_results(tmp_path / "a"))
    assert [line.split(" (")[0] for line in text.splitlines() if line.startswith("**")] == [
        "**MNIST**",
        "**Fashion-MNIST**",
    ]
    mnist = text.split("**Fashion-MNIST**")[0].splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in mnist if line.startswith("| ")}
    bim = rows["BIM, ε = 0.15 (Tables 1-3)"]
    assert bim == (
        "| BIM, ε = 0.15 (Tables 1-3) | 99% | 97.0% [95.0%, 98.0%] | 60.0% [57.0%, 63.0%] | - "
        "| 97.5% (96.0%-99.0%), 3 seeds | breaks under adaptive attack |"
    )
    assert rows["C&W-L2, 50 iterations (Tables 1-3)"].split(" | ")[3] == "90.0% [83.0%, 94.0%] at L2 ≤ 1"
    assert rows["FGSM, ε = 0.3 (Figures 6-8, end point)"].split(" | ")[1] == "97%"  # the figure's, not the table's
    planted = verdict_section(_write_results(tmp_path / "b", bim_defended=0.5))
    assert "| BIM, ε = 0.15 (Tables 1-3) | 99% | 50.0% [48.0%, 51.0%]" in planted
    mixed = verdict_section(_write_results(tmp_path / "c", adaptive_model="ResNet-20 (stand-in for ResNet-50)"))
    assert (
        "| 60.0% [57.0%, 63.0%] (another model: see the heading) | - | 97.5% (96.0%-99.0%), 3 seeds | reproduced |"
        in mixed
    )  # an older model's adaptive number is shown but does not decide the verdict
    assert dataset_key("CIFAR-10 (JPEG q75 copy)") == "cifar10" and dataset_key("Fashion-MNIST") == "fashion_mnist"
    with pytest.raises(ValueError, match="none of the built-in datasets"):
        dataset_key("SVHN")


def test_report_fills_a_page_keeps_the_rest_and_names_a_missing_csv(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    pd.DataFrame({"notebook": ["01_a.ipynb"], "profile": ["smoke"], "seconds": [90.0]}).to_csv(
        results / "rerun_times.csv", index=False
    )
    pd.DataFrame(
        {"notebook": ["01_a.ipynb"], "profile": ["smoke"], "cell": [1], "seconds": [90.0], "source": ["x"]}
    ).to_csv(results / "rerun_cells.csv", index=False)
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
    from reconstruction_defense.reporting.provenance import stale_section

    assert filled.startswith(f"<!-- rendered: stale -->\n{stale_section(REPO / 'results')}\n<!-- /rendered -->")


def test_a_stale_row_is_one_whose_recorded_attack_version_is_not_current(tmp_path):
    """Planted: a row recorded with C&W v2 (now v3), and rows that name attacks but record none."""
    from reconstruction_defense.attacks.registry import ATTACKS
    from reconstruction_defense.attacks.versions import attack_code
    from reconstruction_defense.reporting.provenance import stale_rows

    labels = pd.Series(["clean", "bim", "cw", "worst case"])
    current = attack_code(labels)
    assert current.tolist() == ["", f"bim v{ATTACKS['bim'].version}", f"cw v{ATTACKS['cw'].version}", current[3]]
    assert set(current[3].split(", ")) == {current[1], current[2]}  # a worst case rests on every attack named
    read_back = pd.read_csv(io.StringIO("attack,n\nbim,1\n,2\n"))  # a check's row without an attack, as pandas reads it
    assert attack_code(read_back.attack).tolist() == [current[1], ""]
    pd.DataFrame({"attack": labels, "attack_code": current}).to_csv(tmp_path / "fresh.csv", index=False)
    pd.DataFrame({"attack": labels, "attack_code": current.replace(current[2], "cw v2")}).to_csv(
        tmp_path / "old.csv", index=False
    )
    pd.DataFrame({"attack": labels}).to_csv(tmp_path / "unrecorded.csv", index=False)
    table = stale_rows(tmp_path).set_index("file")
    assert table.stale.to_dict() == {"fresh.csv": 0, "old.csv": 1, "unrecorded.csv": 3}
    assert table.why["old.csv"] == f"cw v2 (now v{ATTACKS['cw'].version})"
    assert table.why["unrecorded.csv"] == "version not recorded"
    from reconstruction_defense.reporting.provenance import stale_section

    assert stale_section(tmp_path).startswith("**Stale:** 3 result files hold rows")  # no weights named either
    (tmp_path / "unrecorded.csv").unlink()
    (tmp_path / "old.csv").unlink()
    assert stale_section(tmp_path).startswith("**Stale:** 1 result file holds rows")


def test_a_row_whose_models_are_not_recorded_or_not_shipped_is_stale(tmp_path):
    """Planted: a row naming a digest outside the manifest, and a file recording no models."""
    from reconstruction_defense.reporting.provenance import unshipped_rows

    shipped = {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}
    models = ["aaaaaaaaaaaa", "aaaaaaaaaaaa + bbbbbbbbbbbb", "aaaaaaaaaaaa + cccccccccccc"]
    pd.DataFrame({"accuracy": [0.5, 0.6, 0.7], "models": models}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"accuracy": [0.5]}).to_csv(tmp_path / "old.csv", index=False)
    pd.DataFrame({"seconds": [1.0]}).to_csv(tmp_path / "rerun_times.csv", index=False)
    (tmp_path / "json").mkdir()
    for name, restorer in (("ok", "b"), ("planted", "d")):
        record = {"checkpoints": {"classifier": "a" * 64, "restorer": restorer * 64}}
        (tmp_path / "json" / f"{name}.json").write_text(json.dumps(record))
    table = unshipped_rows(tmp_path, shipped).set_index("file")
    assert table.stale.to_dict() == {"old.csv": 1, "t.csv": 1, "json/ok.json": 0, "json/planted.json": 1}
    assert table.why["t.csv"] == "weights not shipped: cccccccccccc"
    assert table.why["old.csv"] == "weights not recorded"
    assert table.why["json/planted.json"] == "weights not shipped: dddddddddddd"


def test_a_choice_record_names_its_candidates_and_a_study_result_names_none(tmp_path):
    """Planted: a choice record's row naming only shipped weights, one naming a malformed tag, a
    study result naming a candidate; a timing file records no models and is not stale."""
    from reconstruction_defense.reporting.provenance import unshipped_rows

    shipped, ok = {"aaaaaaaaaaaa"}, "candidate 0123456789ab"
    models = [ok, f"aaaaaaaaaaaa + {ok}", "aaaaaaaaaaaa", "candidate 0123"]
    pd.DataFrame({"accuracy": [0.5] * 4, "models": models}).to_csv(tmp_path / "standins.csv", index=False)
    pd.DataFrame({"accuracy": [0.5, 0.6], "models": ["aaaaaaaaaaaa", ok]}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"epoch_s": [1.0]}).to_csv(tmp_path / "training_costs.csv", index=False)
    table = unshipped_rows(tmp_path, shipped).set_index("file")
    assert table.stale.to_dict() == {"standins.csv": 2, "t.csv": 1}
    assert table.why["standins.csv"] == "weights not shipped: candidate 0123; no candidate named"
    assert table.why["t.csv"] == f"weights not shipped: {ok}"


def test_every_committed_result_row_rests_on_current_attack_code_and_shipped_weights():
    """The one-generation rule on what we ship: no committed row names an outdated attack version
    or a model outside the manifest (the two tests above plant both kinds of stale row)."""
    from reconstruction_defense.reporting.provenance import stale_rows, unshipped_rows

    for table in (stale_rows(REPO / "results"), unshipped_rows(REPO / "results")):
        stale = table[table.stale > 0]
        assert stale.empty, f"rerun what writes these rows:\n{stale.to_string()}"


def test_a_candidates_digest_is_the_one_its_published_file_would_get(tmp_path):
    from reconstruction_defense.data.weights import candidate_id, publish

    model = torch.nn.Linear(3, 2)
    entry = publish(tmp_path, "m", model.state_dict(), {})
    assert candidate_id(model) == f"candidate {entry['sha256'][:12]}"
    with torch.no_grad():
        model.bias[0] += 1e-6
    assert candidate_id(model) != f"candidate {entry['sha256'][:12]}"


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


def test_the_slowest_cells_are_listed_with_their_share_of_their_notebook(tmp_path):
    pd.DataFrame(
        {
            "notebook": ["01_a.ipynb", "01_a.ipynb", "02_b.ipynb"],
            "profile": ["cpu"] * 3,
            "cell": [1, 2, 1],
            "seconds": [30.0, 90.0, 600.0],
            "source": ["import x", "table = a | b  # a pipe", "slow()"],
        }
    ).to_csv(tmp_path / "rerun_cells.csv", index=False)
    lines = slowest_cells_section(tmp_path, shown=2).splitlines()
    assert lines[2] == "| 02_b.ipynb | cpu | 1 | 10.0 | 100% | `slow()` |"
    assert lines[3] == "| 01_a.ipynb | cpu | 2 | 1.5 | 75% | `table = a \\| b  # a pipe` |" and len(lines) == 4


def test_the_wall_time_table_states_the_cold_series_against_its_targets(tmp_path):
    """A notebook run in parts is summed before it is held against 30 min; warm and smoke runs
    do not count (planted: 06's two parts are each under 30 min, together over)."""
    pd.DataFrame(
        {
            "notebook": ["01_a.ipynb", "06_b.ipynb [mnist]", "06_b.ipynb [cifar10]", "06_b.ipynb", "02_c.ipynb"],
            "profile": ["cpu", "cpu", "cpu", "cpu", "smoke"],
            "run": ["cold", "cold", "cold", "warm", "cold"],
            "seconds": [600.0, 1500.0, 1200.0, 60.0, 6000.0],
        }
    ).to_csv(tmp_path / "rerun_times.csv", index=False)
    last = timing_section(tmp_path).splitlines()[-1]
    assert "The 2 notebooks with a cold run take **55 min**, 0.6× the series target; over 30 min: 06 45 min." in last


def test_each_benchmark_table_follows_its_csv_and_a_missing_variant_shows_a_dash(tmp_path):
    """Planted: a changed throughput in the attacks CSV, a hotspot variant dropped from its CSV."""
    from reconstruction_defense.reporting import benchmarks

    attacks = pd.read_csv(REPO / "results" / "benchmark_attacks.csv")
    attacks.loc[0, "images_per_s"] = 12345.6
    attacks.to_csv(tmp_path / "benchmark_attacks.csv", index=False)
    first = benchmarks.attack_speed_section(tmp_path).splitlines()[2]
    assert "| 12345.6 |" in first and first.startswith(f"| {attacks.dataset[0]}, 1,000 test images, LeNet |")
    hotspots = pd.read_csv(REPO / "results" / "benchmark_hotspots.csv")
    training_rows = (hotspots.dataset == "MNIST") & hotspots.step.str.startswith("training")
    dropped = training_rows & (hotspots.variant == "2x batch")
    hotspots[~dropped].to_csv(tmp_path / "benchmark_hotspots.csv", index=False)
    training = next(r for r in benchmarks.hotspots_section(tmp_path).splitlines() if r.startswith("| MNIST | training"))
    assert training.endswith("| - |") and training.count("×") == 3
    for name in ("pipeline", "distributed", "exact_speed"):
        assert "| --- |" in getattr(benchmarks, f"{name}_section")(REPO / "results")


def test_standins_table_shows_each_recipe_row_with_the_model_it_scored():
    from reconstruction_defense.reporting.benchmarks import standins_section

    table = pd.read_csv(REPO / "results" / "standins.csv")
    rows = standins_section(REPO / "results").splitlines()[2:]
    assert len(rows) == len(table)
    for row, (models, seconds, accuracy) in zip(rows, table[["models", "train_seconds", "accuracy"]].values):
        assert (f"`{models}`" if isinstance(models, str) else "not recorded") in row
        assert ("shipped, loaded" in row) == (seconds == 0)
        assert f"{accuracy:.2%}" in row


def test_training_costs_table_shows_each_measured_epoch_and_its_ratio():
    from reconstruction_defense.reporting.benchmarks import training_costs_section

    table = pd.read_csv(REPO / "results" / "training_costs.csv")
    rows = training_costs_section(REPO / "results").splitlines()[2:]
    assert len(rows) == len(table)
    for row, (seconds, ratio) in zip(rows, table[["epoch_s", "ratio_to_main_clean"]].values):
        assert f"| {seconds:.1f} | {ratio:.2f}× |" in row
