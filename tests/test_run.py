"""The main command, under the smoke profile, on real MNIST."""
import pandas as pd
import pytest

from reconstruction_defense.run import main


def test_main_command_prints_and_writes_the_table(tmp_path, capsys):
    assert main(["--profile", "smoke", "--workdir", str(tmp_path / "runs"),
                 "--results", str(tmp_path / "results")]) == 0
    table = pd.read_csv(tmp_path / "results" / "table_mnist_smoke.csv")
    assert len(table) == 10 and set(table.defense) == {"none", "quantize k=2 + restorer"}
    assert set(table.attack) == {"clean", "FGSM", "BIM", "DeepFool", "C&W-L2"}
    acc = table.set_index(["defense", "attack"]).accuracy
    assert acc["none", "clean"] > 0.9
    assert acc["none", "DeepFool"] < 0.2 and acc["none", "C&W-L2"] < 0.5
    out = capsys.readouterr().out
    assert "n = 200 test images" in out and "paper no defense" in out and "wall time" in out
    # a second run loads every checkpoint and cached attack: same table
    assert main(["--profile", "smoke", "--workdir", str(tmp_path / "runs"),
                 "--results", str(tmp_path / "again")]) == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / "again" / "table_mnist_smoke.csv"))


def test_two_seeded_runs_from_scratch_give_identical_tables(tmp_path):
    for run in ("first", "second"):  # each trains and attacks from nothing
        assert main(["--profile", "smoke", "--workdir", str(tmp_path / run / "runs"),
                     "--results", str(tmp_path / run / "results")]) == 0
    first, second = (tmp_path / run / "results" / "table_mnist_smoke.csv" for run in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()


def test_bad_profile_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="valid: auto, smoke, cpu, paper"):
        main(["--profile", "laptop", "--workdir", str(tmp_path)])
