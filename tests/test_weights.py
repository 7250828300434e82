"""Published weights (``weights/<profile>/``): the committed files are whole and load into their
architectures; the zoo loads a shipped model first, checks its digest, never trains over it and
refuses it for a changed recipe; a shipped model is reproduced by the code that ships."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from reconstruction_defense.cli import train
from reconstruction_defense.cli import weights as weights_cli
from reconstruction_defense.config.profiles import get_profile
from reconstruction_defense.data import weights
from reconstruction_defense.data.checkpoints import config_key
from reconstruction_defense.data.datasets import INFOS, load_dataset
from reconstruction_defense.evaluation.scoring import evaluate
from reconstruction_defense.experiments.series import quality, series_models
from reconstruction_defense.training import zoo

SHIPPED = weights.weights_root() / "cpu"


def test_every_shipped_model_is_whole_and_loads_into_its_architecture_with_its_parameter_count():
    models = weights.read_manifest(SHIPPED)
    assert models, f"{SHIPPED / weights.MANIFEST} lists no model"
    for name, entry in models.items():
        assert entry["key"] == config_key(entry["config"]), f"{name}: the key is not the hash of its config"
        assert name.startswith(f"{entry['dataset_key']}-") and name.endswith(f"-{entry['key']}")
        file = SHIPPED / entry["file"]
        assert file.stat().st_size == entry["bytes"]
        module = zoo.architecture(entry["kind"], INFOS[entry["dataset_key"]], entry["config"])
        module.load_state_dict(weights.load_shipped(file, entry))  # strict: every tensor, every shape
        assert sum(p.numel() for p in module.parameters()) == entry["parameters"]
        assert "ci_low" in entry["quality"] or "psnr_clean" in entry["quality"] or "bits_per_dim" in entry["quality"]
    assert sum(e["bytes"] for e in models.values()) <= 80e6


@pytest.fixture(scope="module")
def published_smoke(tmp_path_factory):
    """The smoke profile's main MNIST classifier and restorer, published once by ``recdef train``
    into a weights folder of their own."""
    root = tmp_path_factory.mktemp("published")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECDEF_WEIGHTS", str(root / "weights"))
        argv = ["--profile", "smoke", "--dataset", "mnist", "--only", "main", "--workdir", str(root / "cache")]
        assert train.main(argv) == 0
    assert len(weights.read_manifest(root / "weights" / "smoke")) == 2
    return root / "weights"


@pytest.fixture
def shipped_smoke(published_smoke, tmp_path, monkeypatch):
    """A copy of :func:`published_smoke`'s folder that a test may damage, made the shipped one."""
    shutil.copytree(published_smoke, tmp_path / "weights")
    monkeypatch.setenv("RECDEF_WEIGHTS", str(tmp_path / "weights"))
    return tmp_path / "weights" / "smoke"


def _smoke_classifier(workdir, **overrides):
    profile = get_profile("smoke", **overrides)
    train_set = load_dataset("mnist", "train", n=profile.data.n_train, seed=profile.seed)
    return zoo.trained_classifier(profile.classifier.arch, train_set, profile, workdir)


def test_the_zoo_loads_shipped_weights_first_and_never_trains_over_them(shipped_smoke, tmp_path, monkeypatch, capsys):
    fresh = tmp_path / "fresh"

    def no_training(*args):
        pytest.fail("a shipped classifier was trained")

    monkeypatch.setattr(zoo, "classifier_epoch", lambda *a, **k: no_training)
    model = _smoke_classifier(fresh)
    assert model.shipped is not None and not (fresh / "checkpoints").exists()
    assert train.main(["--profile", "smoke", "--dataset", "mnist", "--only", "main", "--workdir", str(fresh)]) == 0
    assert "0 model(s) published" in capsys.readouterr().out

    entry_file = shipped_smoke / weights.MANIFEST
    record = json.loads(entry_file.read_text())
    name = model.checkpoint_stem.name
    record["models"][name]["trained_with"]["torch"] = "1.0.0"  # as if trained under another torch
    entry_file.write_text(json.dumps(record))
    again = _smoke_classifier(fresh)
    assert f"{name}.safetensors was trained with torch 1.0.0" in capsys.readouterr().out
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_the_cpu_series_trains_nothing_on_a_fresh_clone(tmp_path, capsys):
    """Every model notebooks 01-08 ask for under ``cpu`` ships: the plan for an empty cache is all
    "shipped" (a model missing from the manifest is a "to train" line)."""
    assert train.main(["--profile", "cpu", "--dry-run", "--workdir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if not line.startswith("shipped")] == []
    assert len(lines) == len(weights.read_manifest(SHIPPED))


def test_train_only_picks_a_kind_group_or_role(shipped_smoke, tmp_path, capsys):
    argv = ["--profile", "smoke", "--dataset", "mnist", "--dry-run", "--workdir", str(tmp_path)]
    for only, shown, roles in (
        ("main", "shipped", ("  classifier", "  restorer")),
        ("transfer: classifier", "to train", (" transfer: classifier",)),
    ):
        assert train.main([*argv, "--only", only]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines and all(line.startswith(shown) and line.endswith(roles) for line in lines), (only, lines)
    with pytest.raises(ValueError, match="matches no model; give a kind, group or role"):
        train.main([*argv, "--only", "transfer: restorer"])


def test_a_changed_recipe_refuses_the_shipped_file_and_says_where_it_differs(shipped_smoke, tmp_path, capsys):
    with zoo.load_only(), pytest.raises(zoo.NotCached):
        _smoke_classifier(tmp_path / "fresh", classifier={"lr": 1e-3})
    assert "are not used" in (out := capsys.readouterr().out) and "differs in lr" in out


@pytest.mark.parametrize("damage", ["flip a byte", "delete"])
def test_an_altered_or_missing_shipped_file_is_one_clear_error_and_nothing_is_retrained(
    shipped_smoke, tmp_path, damage, capsys
):
    entry = next(e for e in weights.read_manifest(shipped_smoke).values() if e["kind"] == "classifier")
    file = shipped_smoke / entry["file"]
    if damage == "delete":
        file.unlink()
    else:
        blob = bytearray(file.read_bytes())
        blob[len(blob) // 2] ^= 1
        file.write_bytes(bytes(blob))
    with pytest.raises(weights.WeightsError, match=rf"{file.name}.*(missing|altered).*git checkout.*recdef train"):
        _smoke_classifier(tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "checkpoints").exists()
    assert weights_cli.main(["--profile", "smoke"]) == 1
    assert ("missing" if damage == "delete" else "altered") in capsys.readouterr().out


def test_the_shipped_mnist_lenet_is_reproduced_by_the_code_that_ships(tmp_path, monkeypatch):
    """Retrained from scratch (no shipped weights visible), the cpu profile's MNIST LeNet gets the
    shipped file's name (its key) and a clean accuracy inside the manifest's 95 % interval."""
    shipped = {e["arch"]: (n, e) for n, e in weights.read_manifest(SHIPPED).items() if e["dataset_key"] == "mnist"}
    name, entry = shipped["lenet"]
    monkeypatch.setenv("RECDEF_WEIGHTS", str(tmp_path / "no weights"))
    profile = get_profile("cpu")
    [lenet] = [m for m in series_models(profile, ("mnist",), workdir=tmp_path) if m.label == "lenet"]
    retrained = lenet.make()
    assert retrained.shipped is None and retrained.checkpoint_stem.name == name
    measured = quality(lenet, retrained, profile)
    assert entry["quality"]["ci_low"] <= measured["clean_accuracy"] <= entry["quality"]["ci_high"]


def test_every_result_row_names_the_shipped_weights_it_rests_on(shipped_smoke, tmp_path):
    """``models``: the classifier's file digest on an undefended row, the classifier's and the
    restorer's on a defended one; a model trained here and not shipped says so."""
    profile = get_profile("smoke")
    [classifier, defense] = [m.make() for m in series_models(profile, ("mnist",), workdir=tmp_path)[:2]]
    test = load_dataset("mnist", "test", n=50)
    table = evaluate(classifier, test, [("clean", 0.0)], {"none": None, "ours": defense}, progress=False)
    digests = {e["kind"]: e["sha256"][:12] for e in weights.read_manifest(shipped_smoke).values()}
    assert list(table.models) == [digests["classifier"], f"{digests['classifier']} + {digests['restorer']}"]
    other = _smoke_classifier(tmp_path / "local", classifier={"lr": 1e-3})
    assert weights.weights_ids(other, defense) == (f"not shipped: {other.checkpoint_stem.name} + {digests['restorer']}")


def test_verify_remeasures_the_shipped_models_and_trains_nothing(shipped_smoke, tmp_path):
    """``recdef weights --verify`` on the smoke profile, where only the MNIST main pair is shipped:
    both are re-measured equal (same CPU class), every other model of the series is skipped."""
    checked = weights_cli.verify("smoke", None, tmp_path / "fresh")
    assert set(checked.model) == {"mnist lenet", "mnist restorer"} and checked.agrees.all()
    assert not (tmp_path / "fresh" / "checkpoints").exists()
