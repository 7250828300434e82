"""The papermill runner: order, the profile passed to the kernels, first failure stops the run and
is named; wall times recorded; committed notebooks stay rerunnable under any profile; the docs'
papermill example runs; two results folders compared; widget state stripped."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from reconstruction_defense.cli import compare
from reconstruction_defense.cli.rerun import (
    finish_executed,
    main,
    notebooks_in,
    provenance_problems,
    record_time,
    stamp_sources,
)

REPO = Path(__file__).parent.parent


def _notebook(path, body):
    nb = new_notebook(cells=[new_code_cell('profile_name = "cpu"'), new_code_cell(body)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runs_in_order_and_stops_at_first_failure(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_ok.ipynb",
        'open("ran_01.txt", "w").write(profile_name)\n'
        'import os; os.makedirs("../runs/checkpoints"); open("../runs/checkpoints/a.safetensors", "w")\n'
        'import time; ballast = b"x" * (200 * 2**20); time.sleep(2)  # a kernel peak above 200 MiB',
    )
    _notebook(folder / "02_broken.ipynb", 'raise RuntimeError("boom")')
    _notebook(folder / "03_never.ipynb", 'open("ran_03.txt", "w").write("x")')
    assert main(["--profile", "smoke", "--notebooks", str(folder)]) == 1
    assert (folder / "ran_01.txt").read_text() == "smoke"  # injected over "cpu"; cwd = the folder
    assert not (folder / "ran_03.txt").exists()
    err = capsys.readouterr().err
    executed = tmp_path / "runs" / "smoke" / "notebooks" / "02_broken.ipynb"
    assert "FAILED in 02_broken.ipynb: RuntimeError: boom" in err and str(executed) in err
    assert executed.exists() and (folder / "02_broken.ipynb").read_text().count("boom") == 1
    times = pd.read_csv(tmp_path / "runs" / "smoke" / "results" / "rerun_times.csv")
    assert times.notebook.tolist() == ["01_ok.ipynb"] and times.seconds.iloc[0] > 0  # failed: not timed
    assert times.peak_mib.iloc[0] > 200 and times.new_cache_files.iloc[0] == 1
    ok = nbformat.read(tmp_path / "runs" / "smoke" / "notebooks" / "01_ok.ipynb", as_version=4)
    injected = [c for c in ok.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and not injected[0].source.endswith("\n")  # as ruff formats a notebook cell
    cells = pd.read_csv(tmp_path / "runs" / "smoke" / "results" / "rerun_cells.csv")
    slowest = cells.loc[cells.seconds.idxmax()]
    assert cells.notebook.unique().tolist() == ["01_ok.ipynb"] and len(cells) == 3  # + papermill's parameters
    assert slowest.seconds >= 2 and slowest.source.startswith('open("ran_01.txt"')


def test_a_notebook_runs_in_parts_whose_tables_and_times_add_up(tmp_path):
    """``--datasets`` injects a part's datasets; the notebook's table (written by the library's
    ``save_table``) keeps the other parts' rows, the times are recorded per part and the notebook
    map sums them; a notebook without a ``datasets`` parameter is refused before anything runs."""
    from reconstruction_defense.reporting.frontpage import notebook_map_section

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = new_notebook(
        cells=[
            new_code_cell('profile_name = "cpu"\ndatasets = ["mnist", "cifar10"]'),
            new_code_cell(
                "import pandas as pd\n"
                "from reconstruction_defense.data.outputs import save_table\n"
                'rows = pd.DataFrame({"dataset": datasets, "value": [len(d) for d in datasets]})\n'
                'save_table(rows, __import__("pathlib").Path("table.csv"))\n'
                'open("ran_" + "-".join(datasets), "w")'
            ),
        ]
    )
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "06_adaptive_evaluation.ipynb")
    _notebook(folder / "07_whole.ipynb", "x = 1")
    with pytest.raises(ValueError, match="07_whole.ipynb: no `datasets` parameter"):
        main(["--profile", "smoke", "--notebooks", str(folder), "--datasets", "mnist"])
    assert not (folder / "table.csv").exists()
    for part in ("mnist", "cifar10"):
        assert main(["--profile", "smoke", "--notebooks", str(folder), "--only", "06", "--datasets", part]) == 0
    assert sorted(p.name for p in folder.glob("ran_*")) == ["ran_cifar10", "ran_mnist"]  # one dataset a part
    table = pd.read_csv(folder / "table.csv")
    assert table.dataset.tolist() == ["mnist", "cifar10"]  # the second part kept the first's row
    results = tmp_path / "runs" / "smoke" / "results"
    times = pd.read_csv(results / "rerun_times.csv")
    parts = ["06_adaptive_evaluation.ipynb [cifar10]", "06_adaptive_evaluation.ipynb [mnist]"]
    assert times.notebook.tolist() == parts
    assert sorted(pd.read_csv(results / "rerun_cells.csv").notebook.unique()) == parts
    cpu = tmp_path / "cpu"
    cpu.mkdir()

    def map_row() -> str:
        return next(line for line in notebook_map_section(cpu).splitlines() if "06_adaptive" in line)

    for part, seconds in (("mnist", 600.0), ("cifar10", 300.0)):  # cold parts: they made cache files
        record_time(cpu / "rerun_times.csv", f"06_adaptive_evaluation.ipynb [{part}]", "cpu", seconds, 1.0, 3)
    assert map_row().endswith("| 15.0 min in 2 parts | not run |")
    record_time(cpu / "rerun_times.csv", "06_adaptive_evaluation.ipynb", "cpu", 60.0, 1.0, 3)  # a whole run
    assert map_row().endswith("| 1.0 min | not run |")  # replaced both parts


def test_times_keep_a_cold_and_a_warm_run_per_notebook(tmp_path):
    file = tmp_path / "rerun_times.csv"
    pd.DataFrame(
        {
            "notebook": ["01_a.ipynb", "03_c.ipynb"],
            "profile": ["cpu", "cpu"],  # legacy rows
            "seconds": [5.0, 7.0],
        }
    ).to_csv(file, index=False)
    record_time(file, "01_a.ipynb", "cpu", 300.0, 900.0, 4)  # cold: made 4 cache files; supersedes 5.0
    record_time(file, "01_a.ipynb", "cpu", 20.0, 700.0, 0)  # warm
    record_time(file, "01_a.ipynb", "cpu", 10.0, float("nan"), 0)  # a later warm run replaces it
    record_time(file, "02_b.ipynb", "smoke", 1.0, 100.0, 0)
    rows = pd.read_csv(file)
    assert rows[["notebook", "profile", "run", "seconds"]].values.tolist() == [
        ["01_a.ipynb", "cpu", "cold", 300.0],
        ["01_a.ipynb", "cpu", "warm", 10.0],
        ["02_b.ipynb", "smoke", "warm", 1.0],
        ["03_c.ipynb", "cpu", "not recorded", 7.0],
    ]
    assert rows.new_cache_files.fillna(-1).tolist() == [4, 0, 0, -1]


def test_committed_notebooks_replay_under_nbval_with_safe_defaults():
    """A papermill-injected cell pinning ``profile_name = "cpu"`` must be skipped by nbval, or CI
    would replay the hours-long cpu run; the parameters cell's own default is the smoke profile."""
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("0*.ipynb")):  # the explorer
        cells = json.loads(path.read_text())["cells"]  # has no profile: it shows whatever is cached
        tags = [c.get("metadata", {}).get("tags", []) for c in cells]
        assert all("nbval-skip" in t for t in tags if "injected-parameters" in t), path.name
        params = [c for c, t in zip(cells, tags) if "parameters" in t]
        assert len(params) == 1, f"{path.name}: needs exactly one cell tagged parameters"
        assert 'profile_name = "smoke"' in "".join(params[0]["source"]), path.name


def test_rerun_injects_parameters_that_the_executed_notebook_records(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_ok.ipynb", "print(profile_name)")
    assert main(["--profile", "smoke", "--notebooks", str(folder)]) == 0
    executed = nbformat.read(tmp_path / "runs" / "smoke" / "notebooks" / "01_ok.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'profile_name = "smoke"' in injected[0].source
    assert "nbval-skip" in injected[0].metadata.tags


def test_the_docs_papermill_example_runs_from_the_repository_root(tmp_path):
    root = Path(__file__).parent.parent
    assert (
        "papermill notebooks/02_restorer_training.ipynb out.ipynb -p profile_name smoke"
        in (root / "docs" / "running.md").read_text()
    )
    out = tmp_path / "out.ipynb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "notebooks/02_restorer_training.ipynb",
            str(out),
            "-p",
            "profile_name",
            "smoke",
            "--no-progress-bar",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (root / "runs" / "smoke" / "results" / "restorer_quality.csv").exists()
    assert not (root.parent / "runs").exists()  # nothing written outside the repository


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        notebooks_in(tmp_path)


def test_compare_tells_equal_sampled_seed_spread_and_real_differences_apart(tmp_path, capsys):
    """``recdef compare``: a user's rerun against ours, cell by cell (n = 1,000 per cell)."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    labels = {"dataset": ["MNIST"] * 4, "attack": ["fgsm", "bim", "cw", "deepfool"], "strength": [0.1, 0.1, 0, 0]}
    for folder, accuracy in ((ours, [0.9, 0.8, 0.7, 0.6]), (theirs, [0.9, 0.82, 0.6, 0.4])):
        folder.mkdir()
        pd.DataFrame({**labels, "accuracy": accuracy, "n": 1000}).to_csv(folder / "t.csv", index=False)
        pd.DataFrame({"seconds": [len(str(folder))]}).to_csv(folder / "rerun_times.csv", index=False)
    spread = {"dataset": ["MNIST"], "attack": ["cw"], "strength": [0], "mean": [0.65], "low": [0.58], "high": [0.72]}
    pd.DataFrame({**spread, "seeds": [3]}).to_csv(ours / "seed_spread.csv", index=False)
    pd.DataFrame({"accuracy": [0.5], "n": [10]}).to_csv(theirs / "extra.csv", index=False)

    assert compare.main([str(ours), str(theirs), "--all"]) == 1
    out = capsys.readouterr().out
    assert "t.csv: 4 cells: 1 equal, 1 intervals overlap, 1 within seed spread, 1 DIFFERS" in out
    assert "extra.csv: only in" in out and "seed_spread.csv: only in" in out and "rerun_times" not in out
    assert "3 cell(s) or table(s) differ" in out  # deepfool 0.6 vs 0.4, and the two tables on one side
    (theirs / "extra.csv").unlink()
    shutil.copy(ours / "seed_spread.csv", theirs)
    pd.DataFrame({**labels, "accuracy": [0.9, 0.82, 0.6, 0.61], "n": 1000}).to_csv(theirs / "t.csv", index=False)
    assert compare.main([str(ours), str(theirs)]) == 0


def _saved_widget_state(nb: dict) -> list[str]:
    """What JupyterLab's autosave leaves in a notebook that breaks it on reopening ("Error
    displaying widget: model not found"): widget views in outputs, widget state in metadata."""
    found = ["metadata.widgets"] if "widgets" in nb.get("metadata", {}) else []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                found.append(f"cell {i}: widget view")
    return found


def test_committed_notebooks_carry_no_widget_state_and_a_rerun_strips_it(tmp_path):
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        assert _saved_widget_state(json.loads(path.read_text())) == [], f"{path.name}: widget state committed"
    explorer = json.loads((Path(__file__).parent.parent / "notebooks" / "explorer.ipynb").read_text())
    planted = json.loads(json.dumps(explorer))
    planted["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    bar = {
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
        "text/plain": "training: 100%",
    }
    planted["cells"][-1]["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": bar}]
    assert len(_saved_widget_state(planted)) == 2
    executed = tmp_path / "executed.ipynb"
    executed.write_text(json.dumps(planted))
    finish_executed(executed)  # as the rerun leaves each executed notebook
    stripped = json.loads(executed.read_text())
    assert _saved_widget_state(stripped) == []
    kept = stripped["cells"][-1]["outputs"][0]["data"]
    assert list(kept) == ["text/plain"] and "".join(kept["text/plain"]) == "training: 100%"


def _nbstripout_args() -> list[str]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = [h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "nbstripout"]
    return hooks[0]["args"]


def test_the_commit_hook_and_the_rerun_strip_the_same_notebook_metadata(tmp_path):
    """A committed notebook is a fixed point of both: nbstripout with the pre-commit hook's
    arguments, and the rerun's :func:`finish_executed`; a planted papermill timestamp is stripped."""
    committed = sorted((REPO / "notebooks").glob("*.ipynb"))
    copies = [shutil.copy(path, tmp_path / path.name) for path in committed]
    done = subprocess.run(
        [sys.executable, "-m", "nbstripout", *_nbstripout_args(), *map(str, copies)], capture_output=True
    )
    assert done.returncode == 0, done.stderr
    for path, copy in zip(committed, map(Path, copies)):
        assert json.loads(copy.read_text()) == json.loads(path.read_text()), f"{path.name}: nbstripout changes it"
        finish_executed(copy)
        assert json.loads(copy.read_text()) == json.loads(path.read_text()), f"{path.name}: the rerun changes it"
    planted = json.loads((REPO / "notebooks" / "02_restorer_training.ipynb").read_text())
    planted["metadata"]["papermill"] = {"start_time": "2026-12-04T10:00:00"}
    planted["cells"][0]["metadata"]["execution"] = {"iopub.status.busy": "2026-12-04T10:00:01"}
    for strip in ("nbstripout", "rerun"):
        copy = tmp_path / f"{strip}.ipynb"
        copy.write_text(json.dumps(planted))
        if strip == "nbstripout":
            subprocess.run([sys.executable, "-m", "nbstripout", *_nbstripout_args(), str(copy)], check=True)
        else:
            finish_executed(copy)
        stripped = json.loads(copy.read_text())
        assert "papermill" not in stripped["metadata"] and "execution" not in stripped["cells"][0]["metadata"], strip


def test_a_cell_not_executed_or_edited_after_the_rerun_is_found(tmp_path):
    """The rerun stamps each code cell with the digest of the source its outputs come from; an
    unexecuted cell, an unstamped one and one edited afterwards are each reported."""
    nb = new_notebook(cells=[new_code_cell("x = 1", execution_count=1), new_code_cell("x + 1", execution_count=2)])
    path = tmp_path / "01_example.ipynb"
    nbformat.write(nb, path)
    assert provenance_problems(path) == [
        "01_example.ipynb: code cell 1 has no source stamp of a rerun",
        "01_example.ipynb: code cell 2 has no source stamp of a rerun",
    ]
    stamp_sources(path)
    assert provenance_problems(path) == []
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "x = 2"  # edited after its outputs were made
    nb.cells[1].execution_count = None  # never executed
    nbformat.write(nb, path)
    assert provenance_problems(path) == [
        "01_example.ipynb: code cell 1 was edited after its outputs were made",
        "01_example.ipynb: code cell 2 was not executed",
    ]


def test_every_committed_notebook_of_the_series_was_executed_from_its_current_source():
    """Issue 35's rule on the committed series: every code cell of notebooks 01-08 holds outputs
    that a rerun made from the source it shows (the test above plants each way to break it)."""
    series = notebooks_in(REPO / "notebooks")
    assert [nb.name[:2] for nb in series] == [f"{n:02d}" for n in range(1, 9)]
    assert [problem for nb in series for problem in provenance_problems(nb)] == []
