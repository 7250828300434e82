"""Exact evaluation against an independent brute force: every reachable k-level image
found by sampling the eps-ball through the real quantizer, enumerated with itertools, on real
MNIST images with the LeNet + restorer of the shared fixtures; a planted error on one reachable
pattern is found; a search cut short by its budget is undecided, never robust."""

import itertools

import pytest
import torch
from test_quantizer_attacks import ball_points
from torch import nn

from reconstruction_defense.evaluation.exact import exact_robustness, reachable_images, search_space
from reconstruction_defense.evaluation.scoring import predict
from reconstruction_defense.method.defense import Defended, ReconstructionDefense
from reconstruction_defense.method.quantize import quantize


def _levels_by_sampling(pixel: float, k: int, eps: float) -> list[float]:
    """The k-level values the quantizer outputs on 401 points of the ball around one pixel and on
    the float32 neighbours of its two edges, each kept only if it lies in the ball (checked in
    float64): every level reachable within eps (intermediate ones span 1/(k-1))."""
    points = ball_points(torch.tensor([pixel]), eps)
    return sorted(set(quantize(points, k).flatten().tolist()))


def _brute_force_robust(after: nn.Module, x: torch.Tensor, y: int, k: int, eps: float) -> bool:
    """Whether ``after`` classifies every reachable k-level image of ``x`` as ``y``."""
    flat = quantize(x, k).flatten()
    choices = [(i, _levels_by_sampling(v, k, eps)) for i, v in enumerate(x.flatten().tolist())]
    free = [(i, levels) for i, levels in choices if len(levels) > 1]
    images = []
    for combo in itertools.product(*(levels for _, levels in free)):
        image = flat.clone()
        image[[i for i, _ in free]] = torch.tensor(combo)
        images.append(image.view_as(x))
    return bool((predict(after, torch.stack(images)) == y).all())


def _after(defense, lenet) -> nn.Module:
    return nn.Sequential(defense.restorer, lenet).eval()


def _closest_calls(after: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, n: int) -> torch.Tensor:
    """Indices of the ``n`` images with at most 2**9 reachable binary images whose quantized
    clean image ``after`` classifies with the smallest margin: where robust and broken meet."""
    with torch.no_grad():
        logits = after(quantize(x, 2))
    margin = logits.gather(1, y[:, None]).squeeze(1) - logits.scatter(1, y[:, None], float("-inf")).amax(1)
    margin[reachable_images(x, 2, eps) > 2**9] = float("inf")
    return margin.argsort()[:n]


@pytest.mark.parametrize("restored", [True, False], ids=["quantizer+restorer", "quantizer alone"])
def test_exact_equals_brute_force_on_real_images(lenet, defense, mnist_test, restored):
    after = _after(defense, lenet) if restored else lenet
    eps = 0.12
    pick = _closest_calls(after, mnist_test.images, mnist_test.labels, eps, 16)
    x, y = mnist_test.images[pick], mnist_test.labels[pick]
    verdicts = exact_robustness(after, x, y, 2, eps, budget=float("inf"), progress=False)
    oracle = [_brute_force_robust(after, x[i], int(y[i]), 2, eps) for i in range(len(x))]
    assert verdicts.status == ["robust" if r else "broken" for r in oracle]
    assert 0 < sum(oracle) < len(oracle)  # both kinds present, else the comparison says little
    broken = ~verdicts.robust()
    deployed = Defended(defense if restored else ReconstructionDefense(nn.Identity(), 2), lenet).eval()
    assert (predict(deployed, verdicts.witnesses[broken]) != y[broken]).all()  # each witness breaks it
    assert (verdicts.witnesses - x).abs().amax() <= eps + 1e-6


def test_reachable_counts_follow_the_sampled_levels(mnist_test):
    x = mnist_test.images[:5]
    for k, eps in ((2, 0.1), (4, 0.05), (4, 0.2)):
        sampled = [
            torch.tensor([len(_levels_by_sampling(v, k, eps)) for v in img.flatten().tolist()]).double().prod()
            for img in x
        ]
        counted, sampled = reachable_images(x, k, eps), torch.stack(sampled)
        small = sampled < 2**53  # exact there; beyond, float64 products may round differently
        assert torch.equal(counted[small], sampled[small]) and torch.allclose(counted, sampled, rtol=1e-12)


class _PlantedError(nn.Module):
    """``after`` that is wrong on exactly one k-level image."""

    def __init__(self, after: nn.Module, pattern: torch.Tensor):
        super().__init__()
        self.after, self.pattern = after, pattern

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        logits = self.after(q)
        hit = (q == self.pattern).flatten(1).all(1)
        return torch.where(hit[:, None], logits.roll(1, dims=1), logits)


@pytest.fixture(scope="module")
def first_24(lenet, defense, mnist_test):
    """The first 24 test images, the restored pipeline and its verdicts at eps 0.12, budget 2**12."""
    after, x, y = _after(defense, lenet), mnist_test.images[:24], mnist_test.labels[:24]
    return after, x, y, exact_robustness(after, x, y, 2, 0.12, budget=2**12, progress=False)


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_single_planted_error_among_reachable_images_is_found(first_24, where):
    after, x, y, honest = first_24
    target = next(i for i, s in enumerate(honest.status) if s == "robust" and honest.reachable[i] >= 16)
    space = search_space(after, x[target], y[target], 2, 0.12)
    at = 0 if where == "first" else int(space.size) - 1
    pattern = space.patterns(at, at + 1)[0]
    planted = _PlantedError(after, pattern).eval()
    near = slice(max(0, target - 4), target + 5)  # the target and its neighbours, which must not change
    verdicts = exact_robustness(planted, x[near], y[near], 2, 0.12, budget=2**12, progress=False)
    changed = [near.start + i for i, s in enumerate(verdicts.status) if s != honest.status[near.start + i]]
    assert changed == [target] and verdicts.status[target - near.start] == "broken"
    assert torch.equal(quantize(verdicts.witnesses[target - near.start], 2), pattern)
    assert int(verdicts.evaluated[target - near.start]) == at + 1


def test_a_budget_too_small_leaves_images_undecided_not_robust(first_24):
    after, x, y, full = first_24
    cut = exact_robustness(after, x, y, 2, 0.12, budget=8, progress=False)
    for a, b, size in zip(full.status, cut.status, full.reachable.tolist()):
        if size > 8 and a == "robust":
            assert b == "undecided"
        if b in ("robust", "broken"):
            assert a == b
    c = cut.counts()
    assert c["robust"] <= full.counts()["robust"] <= c["robust"] + c["undecided"] and c["undecided"] > 0


def test_undecided_by_budget_equals_fresh_runs_at_each_smaller_budget_and_refuses_false_settings(first_24):
    """The read-off from one run (budget 2**12, probe 16) gives, per smaller budget b, exactly the
    undecided count of a fresh run with budget b and probe min(16, b); a table whose counts do not
    match the probe it records (planted: 64 claimed, 16 run) is refused, naming the dataset whose rows
    are wrong (planted: another part's older rows, which record none), as is a b above the run's."""
    import pandas as pd

    from reconstruction_defense.experiments.exact_evaluation import undecided_by_budget

    after, x, y, _ = first_24
    run = exact_robustness(after, x, y, 2, 0.12, budget=2**12, probe=16, progress=False)
    per_image = run.frame().assign(dataset="MNIST", eps=0.12, budget=2**12, probe=16)
    budgets = [4, 16, 64, 256]
    read_off = undecided_by_budget(per_image, budgets).undecided.tolist()
    fresh = [
        exact_robustness(after, x, y, 2, 0.12, budget=b, probe=min(16, b), progress=False).counts()["undecided"]
        for b in budgets
    ]
    assert read_off == fresh and fresh[0] > fresh[-1], (read_off, fresh)
    with pytest.raises(ValueError, match="of MNIST disagree with the budget and probe they record"):
        undecided_by_budget(per_image.assign(probe=64), budgets)
    older = per_image.assign(dataset="Fashion-MNIST", budget=float("nan"), probe=float("nan"))  # another part's
    with pytest.raises(ValueError, match=r"^\d+ exact verdict\(s\) of Fashion-MNIST disagree.*for Fashion-MNIST"):
        undecided_by_budget(pd.concat([per_image, older], ignore_index=True), budgets)
    with pytest.raises(ValueError, match="larger than the run's"):
        undecided_by_budget(per_image, [2**13])


def test_the_summary_states_the_decided_selection_and_the_accuracy_over_it():
    """Exact robust accuracy over all images is an interval; over the decided ones it is a number
    about a selection (few reachable images), and the summary says which selection."""
    import pandas as pd

    from reconstruction_defense.experiments.exact_evaluation import exact_summary

    status = ["robust"] * 6 + ["broken"] * 2 + ["undecided"] * 2
    per_image = pd.DataFrame(
        {"dataset": "MNIST", "eps": 0.05, "k": 2, "status": status, "attacked_robust": [True] * 6 + [False, True] * 2}
    )
    row = exact_summary(per_image, 4096).iloc[0]
    assert (row.decided, row.exact_low, row.exact_high, row.exact_of_decided) == (8, 0.6, 0.8, 0.75)
    assert row.selection.startswith("the 8 of 10 images with at most 4,096 reachable 2-level images")
    assert row.exact_of_decided_ci_low < 0.75 < row.exact_of_decided_ci_high and row.attacked_of_decided == 0.875


def test_the_exact_record_states_the_proven_share_its_bounds_and_the_shipped_weights(lenet):
    """Notebook 08's JSON record: the proven share as the accuracy, [proven, proven + undecided] as
    bounds, the clean accuracy of the same images, the shipped file's digest; it validates
    against the schema, and a planted bound above 1 does not."""
    import json
    from pathlib import Path

    import jsonschema
    import pandas as pd

    from reconstruction_defense.experiments.exact_evaluation import exact_summary
    from reconstruction_defense.reporting.results_json import exact_entries

    status = ["robust"] * 6 + ["broken"] * 2 + ["undecided"] * 2
    per_image = pd.DataFrame(
        {"dataset": "MNIST", "eps": 0.05, "k": 2, "status": status, "attacked_robust": [True] * 6 + [False, True] * 2}
    ).assign(clean_correct=[True] * 9 + [False])
    lenet.shipped = {"sha256": "5" * 64}
    try:
        (entry,) = exact_entries(
            per_image, exact_summary(per_image, 4096), {"budget": 4096}, "cpu", "LeNet", {"classifier": lenet}, "k = 2"
        )
    finally:
        del lenet.shipped
    assert (entry["protocol"], entry["clean_accuracy"], entry["checkpoints"]) == (
        "exact",
        0.9,
        {"classifier": "5" * 64},
    )
    (robust,) = entry["robust"]
    assert robust["accuracy"] == 0.6 and robust["bounds"] == [0.6, 0.8]
    assert robust["ci95"][0] < 0.6 and robust["ci95"][1] > 0.8
    schema = json.loads((Path(__file__).parent.parent / "schema" / "result.schema.json").read_text())
    jsonschema.validate(entry, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**entry, "robust": [{**robust, "bounds": [0.6, 1.2]}]}, schema)


def test_cached_verdicts_of_weightless_variants_are_kept_apart(lenet, mnist_test, tmp_path):
    """The exact ablation's quantizer alone and quantizer + median filter share every weight (a
    median filter has none): each must get its own verdicts, not the other's from the cache."""
    from reconstruction_defense.config.profiles import ExactConfig
    from reconstruction_defense.experiments.exact_evaluation import cached_exact
    from reconstruction_defense.method.baselines import MedianFilter

    test, config = mnist_test.sample(20), ExactConfig(budget=2**6, probe=2**4)
    alone = nn.Sequential(nn.Identity(), lenet).eval()
    median = nn.Sequential(MedianFilter(2), lenet).eval()
    cached_exact(alone, test, 2, 0.1, config, tmp_path)
    from_cache = cached_exact(median, test, 2, 0.1, config, tmp_path)
    fresh = exact_robustness(median, test.images, test.labels, 2, 0.1, config.budget, config.probe, progress=False)
    assert len(list(tmp_path.glob("exact-*.safetensors"))) == 2
    assert from_cache.status == fresh.status and torch.equal(from_cache.evaluated, fresh.evaluated)


@pytest.mark.parametrize("k", [2, 3, 4, 6, 8])
def test_every_enumerated_image_is_a_fixed_point_of_the_quantizer(k, mnist_test):
    """The search's levels are the quantizer's own outputs, bit for bit, for every k."""
    torch.manual_seed(0)
    after = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    for x, y in zip(mnist_test.images[:6], mnist_test.labels[:6]):
        space = search_space(after, x, y, k, 0.8 / (k - 1))
        images = space.patterns(0, int(min(space.size, 512)))
        assert torch.equal(quantize(images, k), images)
    # the defect this guards: levels as start + digits * (±1/(k-1)) in float32 are not the
    # quantizer's outputs for some pairs of levels (k = 4: 2 of 16)
    level = torch.arange(k, dtype=torch.float32) / (k - 1)
    step = torch.tensor(1.0) / (k - 1)
    old = level[:, None] + (torch.arange(k)[None] - torch.arange(k)[:, None]).float() * step
    if k == 4:
        assert int((old != level[None]).sum()) == 2


def test_exact_enumeration_equals_brute_force_at_k_4_on_fashion_mnist():
    """Fashion-MNIST images with few free pixels at k = 4: the set of enumerated images is the
    set itertools builds from each pixel's sampled levels."""
    from reconstruction_defense.data.datasets import load_dataset

    test = load_dataset("fashion_mnist", "test", n=300, seed=0)
    eps = 0.005  # the cpu profile's exact Fashion-MNIST eps: pixels near k = 4's ties are free
    reachable = reachable_images(test.images, 4, eps)
    small = (reachable > 8) & (reachable <= 2**10)
    torch.manual_seed(0)
    after = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    checked = 0
    for i in small.nonzero().squeeze(1)[:5].tolist():
        x = test.images[i]
        space = search_space(after, x, test.labels[i], 4, eps)
        enumerated = {tuple(p.flatten().tolist()) for p in space.patterns(0, int(space.size))}
        flat = quantize(x, 4).flatten()
        free = [(j, _levels_by_sampling(v, 4, eps)) for j, v in enumerate(x.flatten().tolist())]
        free = [(j, levels) for j, levels in free if len(levels) > 1]
        brute = set()
        for combo in itertools.product(*(levels for _, levels in free)):
            image = flat.clone()
            image[[j for j, _ in free]] = torch.tensor(combo)
            brute.add(tuple(image.tolist()))
        assert enumerated == brute and len(brute) == space.size
        checked += 1
    assert checked == 5
