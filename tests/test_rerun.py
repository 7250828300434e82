"""The papermill runner: order, parameters injected, first failure stops the run and is named."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from reconstruction_defense.rerun import main, notebooks_in


def _notebook(path, body):
    nb = new_notebook(cells=[new_code_cell('profile_name = "cpu"\ndata_root = None'), new_code_cell(body)])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runs_in_order_and_stops_at_first_failure(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_ok.ipynb", 'open("ran_01.txt", "w").write(profile_name)')
    _notebook(folder / "02_broken.ipynb", 'raise RuntimeError("boom")')
    _notebook(folder / "03_never.ipynb", 'open("ran_03.txt", "w").write("x")')
    assert main(["--profile", "smoke", "--notebooks", str(folder)]) == 1
    assert (folder / "ran_01.txt").read_text() == "smoke"  # parameters injected, cwd = the folder
    assert not (folder / "ran_03.txt").exists()
    err = capsys.readouterr().err
    executed = tmp_path / "runs" / "smoke" / "notebooks" / "02_broken.ipynb"
    assert "FAILED in 02_broken.ipynb: RuntimeError: boom" in err and str(executed) in err
    assert executed.exists() and (folder / "02_broken.ipynb").read_text().count("boom") == 1


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        notebooks_in(tmp_path)
