"""The method end to end on real MNIST at small scale: thresholds calibrated on real runs
(LeNet 97.9 % clean; FGSM eps=0.3 about 3 %; defended FGSM about 90 %), with margins."""

import importlib
from dataclasses import replace

import pandas as pd
import pytest
import torch
import torchattacks

from reconstruction_defense.attacks import registry as attacks
from reconstruction_defense.attacks.registry import AttackParams, run_attack
from reconstruction_defense.evaluation.scoring import adversarial_examples, evaluate, predict, wilson_interval
from reconstruction_defense.method import build_classifier
from reconstruction_defense.method.defense import Defended
from reconstruction_defense.method.quantize import quantize
from reconstruction_defense.training.loops import classifier_epoch, fit


def test_lenet_reaches_97_percent(lenet, mnist_test):
    assert (predict(lenet, mnist_test.images) == mnist_test.labels).float().mean() >= 0.97


def test_defense_restores_accuracy_under_fgsm(lenet, defense, mnist_test, tmp_path):
    table = evaluate(
        lenet, mnist_test, [("clean", 0), ("fgsm", 0.3)], {"none": None, "ours": defense}, cache_dir=tmp_path
    )
    acc = table.set_index(["defense", "attack"]).accuracy
    assert set(zip(table.attack, table.attack_code)) == {("clean", ""), ("fgsm", "fgsm v1")}  # the code per row
    assert acc["none", "fgsm"] < 0.2  # the attack works on the bare classifier
    assert acc["ours", "fgsm"] > 0.75  # quantize + restore brings most of it back (AVX2 kernels: 79.5 %)
    assert acc["ours", "clean"] > 0.95  # and costs little on clean images
    restored = defense(quantize(mnist_test.images[:200], 2))
    assert ((restored - mnist_test.images[:200]) ** 2).mean() < (
        (quantize(mnist_test.images[:200], 2) - mnist_test.images[:200]) ** 2
    ).mean()


def test_defended_pipeline_is_one_module(lenet, defense, mnist_test):
    x = mnist_test.images[:50]
    assert torch.equal(Defended(defense, lenet)(x), lenet(defense(x)))


def test_evaluate_is_tidy_and_cached(lenet, mnist_test, tmp_path):
    attacks = [("clean", 0), ("fgsm", 0.1), ("bim", 0.1)]
    table = evaluate(lenet, mnist_test, attacks, cache_dir=tmp_path, progress=False)
    assert list(table.columns) == [
        "dataset",
        "model",
        "defense",
        "attack",
        "strength",
        "accuracy",
        "n",
        "ci_low",
        "ci_high",
        "models",
        "attack_code",
    ]
    assert len(table) == 3 and (table.n == 1000).all() and (table.dataset == "MNIST").all()
    assert ((table.ci_low <= table.accuracy) & (table.accuracy <= table.ci_high)).all()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("bim-0.1-")
    stamp = [p.stat().st_mtime_ns for p in sorted(tmp_path.iterdir())]
    again = evaluate(lenet, mnist_test, attacks, cache_dir=tmp_path, progress=False)
    pd.testing.assert_frame_equal(table, again)
    assert [p.stat().st_mtime_ns for p in sorted(tmp_path.iterdir())] == stamp  # read, not rewritten


def test_cache_key_holds_only_the_knobs_an_attack_reads(lenet, mnist_test, tmp_path):
    x, y = mnist_test.images[:64], mnist_test.labels[:64]
    first = adversarial_examples(lenet, x, y, "bim", 0.1, AttackParams(), tmp_path)
    # PGD's steps do not change BIM: the cached set is reused
    adversarial_examples(lenet, x, y, "bim", 0.1, AttackParams(pgd_steps=7), tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    fewer = adversarial_examples(lenet, x, y, "bim", 0.1, AttackParams(bim_steps=1), tmp_path)
    assert len(list(tmp_path.iterdir())) == 2 and not torch.equal(first, fewer)


def test_cache_key_holds_the_version_of_the_code_that_made_the_set(lenet, mnist_test, tmp_path, monkeypatch):
    x, y = mnist_test.images[:64], mnist_test.labels[:64]
    adversarial_examples(lenet, x, y, "fgsm", 0.1, AttackParams(), tmp_path)
    adversarial_examples(lenet, x, y, "fgsm", 0.1, AttackParams(), tmp_path)
    assert len(list(tmp_path.iterdir())) == 1  # same code: read back
    monkeypatch.setitem(attacks.ATTACKS, "fgsm", replace(attacks.ATTACKS["fgsm"], version=2))
    adversarial_examples(lenet, x, y, "fgsm", 0.1, AttackParams(), tmp_path)
    assert len(list(tmp_path.iterdir())) == 2  # the attack's version bumped: made anew
    monkeypatch.setattr(torchattacks, "__version__", "9.9.9")
    adversarial_examples(lenet, x, y, "fgsm", 0.1, AttackParams(), tmp_path)
    assert len(list(tmp_path.iterdir())) == 3  # another torchattacks: made anew


def test_evaluate_rejects_bad_attack(lenet, mnist_test):
    with pytest.raises(ValueError, match=r"eps must lie in \[0, 1\]"):
        evaluate(lenet, mnist_test, [("fgsm", 3)])


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(980, 1000) == pytest.approx((0.9693, 0.9870), abs=1e-4)


def test_adversarial_training_raises_fgsm_accuracy(mnist_train, mnist_test):
    data = mnist_train.head(3000)
    x, y = mnist_test.images[:500], mnist_test.labels[:500]
    accs = {}
    for attack in (None, ("fgsm", 0.2)):
        torch.manual_seed(0)
        model = build_classifier("lenet", data.info)
        fit(model, classifier_epoch(data, 64, 0, attack), 2, 3e-3, {})
        adv = run_attack("fgsm", model, x, y, 0.2)
        accs[attack is not None] = (predict(model, adv) == y).float().mean().item()
    assert accs[True] > accs[False] + 0.2


def test_the_explorer_shows_cached_models_or_says_it_trained_small_ones(tmp_path, monkeypatch):
    from reconstruction_defense.experiments.explorer import explorer_models
    from reconstruction_defense.training import loops as train
    from reconstruction_defense.training import zoo

    fits = []  # classifier and restorer, trained or loaded from the cache
    real_fit = train.fit
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    with monkeypatch.context() as no_weights:
        no_weights.setenv("RECDEF_WEIGHTS", str(tmp_path / "no weights"))
        models, profile, note = explorer_models("mnist", ("cpu",), None, tmp_path)
        assert profile.name == "smoke" and "no shipped or cached cpu models" in note and len(fits) == 2
        assert not list(tmp_path.glob("checkpoints/mnist-fast_cnn-*"))  # the cpu lookup trained nothing
        models, profile, note = explorer_models("mnist", ("smoke",), None, tmp_path)  # now cached: loads
        assert profile.name == "smoke" and note == "mnist: the smoke profile's shipped or cached models"
    models, profile, note = explorer_models("mnist", ("cpu",), None, tmp_path / "empty cache")
    assert profile.name == "cpu" and models.classifier.shipped is not None and len(fits) == 4  # shipped: no fit


class _Brighten(torch.nn.Module):
    """A stand-in preprocessor with one setting and a call counter (private: not a setting)."""

    def __init__(self, amount: float):
        super().__init__()
        self.amount, self._calls = amount, 0

    def forward(self, x):
        self._calls += 1
        return (x + self.amount).clamp(0, 1)


def test_defended_outputs_are_cached_by_weights_settings_and_images(mnist_test, tmp_path, monkeypatch):
    ev = importlib.import_module(
        "reconstruction_defense.evaluation.scoring"
    )  # the package exports evaluate(), the function
    x, defense = mnist_test.images[:50], _Brighten(0.1)
    first = ev.defended_inputs(defense, x, tmp_path)
    assert torch.equal(ev.defended_inputs(defense, x, tmp_path), first) and defense._calls == 1  # warm: loaded
    defense.amount = 0.3
    assert not torch.equal(ev.defended_inputs(defense, x, tmp_path), first) and defense._calls == 2
    ev.defended_inputs(defense, mnist_test.images[50:100], tmp_path)
    assert defense._calls == 3
    # planted: a key blind to the settings hands back the output of the old setting
    monkeypatch.setattr(ev, "module_settings", lambda module: [])
    stale = ev.defended_inputs(_Brighten(0.1), x, tmp_path / "blind")
    assert torch.equal(ev.defended_inputs(_Brighten(0.3), x, tmp_path / "blind"), stale)


def test_a_deepfool_sweep_runs_once_and_caches_each_count_as_its_own_run_would(
    lenet, mnist_test, tmp_path, monkeypatch
):
    """Figures 6-8 sweep DeepFool's iterations: one run of the longest records the shorter ones."""
    evaluate_module = importlib.import_module("reconstruction_defense.evaluation.scoring")
    test, counts = mnist_test.head(60), [1, 3, 10]
    runs = []
    monkeypatch.setattr(
        evaluate_module,
        "run_attack_iterates",
        lambda *args, **kw: runs.append(args[4]) or attacks.run_attack_iterates(*args, **kw),
    )
    swept = evaluate(lenet, test, [("deepfool", c) for c in counts], cache_dir=tmp_path / "swept")
    assert runs == [counts]  # one recorded run (one batch), no run per count
    for c in counts:
        alone = adversarial_examples(lenet, test.images, test.labels, "deepfool", c, cache_dir=tmp_path / "alone")
        assert torch.equal(
            alone, adversarial_examples(lenet, test.images, test.labels, "deepfool", c, cache_dir=tmp_path / "swept")
        )
    assert sorted(p.name for p in (tmp_path / "swept").glob("*.safetensors")) == sorted(
        p.name for p in (tmp_path / "alone").glob("*.safetensors")
    )
    assert runs == [counts]  # the separate runs' sets were found in the sweep's cache
    again = evaluate(lenet, test, [("deepfool", c) for c in counts], cache_dir=tmp_path / "swept")
    pd.testing.assert_frame_equal(swept, again)
    assert runs == [counts]  # a warm sweep loads every count


def test_the_seed_spread_retrains_the_classifier_and_restorer_per_seed(tmp_path, monkeypatch):
    from reconstruction_defense.config.profiles import get_profile
    from reconstruction_defense.experiments import transfer
    from reconstruction_defense.training.zoo import train_or_load

    profile = get_profile(
        "smoke", data={"n_test": 100}, classifier={"epochs": 1}, sweeps={"deepfool_steps": 5, "cw_steps": 5}
    )
    models = train_or_load("mnist", profile, workdir=tmp_path)
    spread = transfer.seed_spread(models, profile, workdir=tmp_path)
    assert (
        (spread.seeds == 2).all()
        and (spread["low"] <= spread["mean"]).all()
        and (spread["mean"] <= spread["high"]).all()
    )
    assert (spread["low"] < spread["high"]).any()  # two seeds, two classifiers
    assert len(list(tmp_path.glob("checkpoints/mnist-lenet-*.safetensors"))) == 2
    # planted: every seed's run trained with the profile's own seed
    monkeypatch.setattr(transfer, "replace", lambda profile, seed: profile)
    same = transfer.seed_spread(models, profile, workdir=tmp_path)
    assert (same["low"] == same["high"]).all()


def test_the_verdicts_seed_spread_attacks_each_seeds_classifier_and_restorer(tmp_path, monkeypatch):
    from reconstruction_defense.config.profiles import get_profile
    from reconstruction_defense.experiments import adaptive_verdict

    profile = get_profile("smoke", data={"n_test": 100}, classifier={"epochs": 1}, adaptive={"spread_n_test": 50})
    spread = adaptive_verdict.adaptive_seed_spread("mnist", profile, workdir=tmp_path)
    assert len(spread) == 6 and (spread.seeds == 2).all() and (spread.n == 50).all()  # 2 budgets x 3 settings
    assert ((spread["low"] <= spread["mean"]) & (spread["mean"] <= spread["high"])).all()
    assert (spread["low"] < spread["high"]).any()  # two seeds, two pipelines
    assert len(list(tmp_path.glob("checkpoints/mnist-lenet-*.safetensors"))) == 2
    assert len(list(tmp_path.glob("checkpoints/mnist-restorer-*.safetensors"))) == 2
    assert adaptive_verdict.adaptive_seed_spread("cifar10", profile, workdir=tmp_path).empty  # not in spread.datasets
    # planted: every seed's run trained with the profile's own seed
    monkeypatch.setattr(adaptive_verdict, "replace", lambda profile, seed: profile)
    same = adaptive_verdict.adaptive_seed_spread("mnist", profile, workdir=tmp_path)
    assert (same["low"] == same["high"]).all()


def test_an_attack_on_two_settings_of_one_baseline_never_shares_a_cached_set(lenet, mnist_test, tmp_path, monkeypatch):
    """JPEG's quality is neither a weight nor in the module's repr: the cache key holds it through
    the module's plain settings, so each quality gets its own adversarial set."""
    from reconstruction_defense.method.baselines import JPEGCompression

    ev = importlib.import_module("reconstruction_defense.evaluation.scoring")
    x, y = mnist_test.images[:8], mnist_test.labels[:8]
    low, high = (Defended(JPEGCompression(q), lenet).eval() for q in (10, 95))
    assert repr(low) == repr(high) and ev.model_digest(low) == ev.model_digest(high)
    params = AttackParams(bim_steps=2)
    files = {ev._cache_file(m, x, y, "bim", 0.1, params, 0, tmp_path) for m in (low, high)}
    assert len(files) == 2
    monkeypatch.setattr(ev, "module_settings", lambda module: [])  # planted: a key blind to settings
    assert len({ev._cache_file(m, x, y, "bim", 0.1, params, 0, tmp_path) for m in (low, high)}) == 1
