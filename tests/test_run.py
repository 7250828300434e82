"""The main command, under the smoke profile, on real MNIST."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

from reconstruction_defense.cli.run import main
from reconstruction_defense.data import checkpoints


def test_main_command_prints_and_writes_the_table(tmp_path, capsys):
    assert (
        main(["--profile", "smoke", "--workdir", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]) == 0
    )
    table = pd.read_csv(tmp_path / "results" / "table_mnist_smoke.csv")
    assert len(table) == 10 and set(table.defense) == {"none", "quantize k=2 + restorer"}
    assert set(table.attack) == {"clean", "fgsm", "bim", "deepfool", "cw"}
    acc = table.set_index(["defense", "attack"]).accuracy
    assert acc["none", "clean"] > 0.9
    assert acc["none", "deepfool"] < 0.2 and acc["none", "cw"] < 0.5
    out = capsys.readouterr().out
    assert "n = 200 test images" in out and "paper no defense" in out and "wall time" in out
    # a second run loads every checkpoint and cached attack: same table
    assert main(["--profile", "smoke", "--workdir", str(tmp_path / "runs"), "--results", str(tmp_path / "again")]) == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / "again" / "table_mnist_smoke.csv"))


def test_two_seeded_runs_from_scratch_give_identical_weights_and_tables(tmp_path):
    """scripts/same_seed_twice.sh below smoke size: each run trains and attacks from nothing."""
    script = Path(__file__).parents[1] / "scripts" / "same_seed_twice.sh"
    args = [
        "bash",
        str(script),
        "smoke",
        "mnist",
        str(tmp_path / "a"),
        str(tmp_path / "b"),
        "data.n_train=2000",
        "data.n_test=60",
        "restorer.n_train=1000",
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 with different weights" in done.stdout and "1 tables, 0 not byte-identical" in done.stdout
    # the check can fail: a valid restorer checkpoint with other weights (as if retrained on
    # another machine) is caught
    sidecar = next((tmp_path / "b" / "checkpoints").glob("*restorer*.json"))
    meta = {k: v for k, v in json.loads(sidecar.read_text()).items() if k not in ("format", "sha256")}
    weights = load_file(sidecar.with_suffix(".safetensors"))
    checkpoints.save(sidecar.with_suffix(""), {k: v * 1.01 for k, v in weights.items()}, meta)
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 1 and "1 with different weights" in done.stdout


def test_bad_profile_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--profile", "laptop", "--workdir", str(tmp_path)])
    assert stop.value.code == 2
    assert "invalid choice: 'laptop' (choose from 'auto', 'smoke', 'cpu', 'paper')" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # before any training, not after it
        main(["--profile", "smoke", "--l2-n-test", "0", "--workdir", str(tmp_path)])
    assert stop.value.code == 2 and not list(tmp_path.iterdir())
    assert "--l2-n-test: expected a whole number of at least 1, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "precompute"])
def test_a_user_error_is_one_line_and_its_traceback_only_under_debug(tmp_path, command):
    args = [
        sys.executable,
        "-m",
        f"reconstruction_defense.cli.{command}",
        "--profile",
        "smoke",
        "--data-root",
        str(tmp_path / "empty"),
        "--workdir",
        str(tmp_path / "runs"),
    ]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "RECDEF_DATA": str(tmp_path)})
    errors = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    debug = subprocess.run(
        [*args, "--debug"], capture_output=True, text=True, env={**os.environ, "RECDEF_DATA": str(tmp_path)}
    )
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_an_unwritable_results_folder_fails_before_any_work(tmp_path, monkeypatch):
    from reconstruction_defense.data.outputs import OutputError
    from reconstruction_defense.training import zoo

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the output folder was checked")

    monkeypatch.setattr(zoo, "load_dataset", no_data)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write into .*a-file/results"):
        main(["--profile", "smoke", "--workdir", str(tmp_path / "runs"), "--results", str(blocker / "results")])


def test_recdef_dispatches_to_the_runners(tmp_path):
    from reconstruction_defense.cli.recdef import main as recdef

    assert recdef(["report", "--partial", "--results", str(Path(__file__).parent.parent / "results")]) == 0
    assert recdef(["report", "--results", str(tmp_path)]) == 2  # no CSVs there: one line, not a traceback
    assert recdef(["fly"]) == 2 and recdef(["--help"]) == 0
    done = subprocess.run(["recdef", "run", "--profile", "laptop"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice: 'laptop'" in done.stderr  # the installed console script
