"""Notebook 08: the exact robust accuracy of the quantizing defense (:mod:`..evaluation.exact`) beside the
adaptive cascade's verdict (:func:`..evaluation.adaptive.adaptive_survivors`), image by image."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from ..config.profiles import ExactConfig, Profile
from ..data.checkpoints import model_digest, tensor_digest
from ..data.datasets import ImageSet
from ..data.outputs import atomic_write
from ..data.weights import merged_ids, weights_ids
from ..evaluation.adaptive import adaptive_survivors
from ..evaluation.exact import STATUSES, VERSION, ExactVerdicts, exact_robustness
from ..evaluation.scoring import module_settings, predict, wilson_interval
from ..method.baselines import MedianFilter
from ..method.defense import Defended, ReconstructionDefense
from ..training.zoo import train_or_load

AFTER_QUANTIZER = ("quantizer alone", "quantizer + median 2x2", "quantizer + restorer")


def exact_eps(profile: Profile, dataset: str) -> tuple[float, ...]:
    """The eps at which ``profile`` evaluates ``dataset`` exactly (none: an empty tuple)."""
    return dict(profile.exact.eps).get(dataset, ())


def cached_exact(
    after: nn.Module, test: ImageSet, k: int, eps: float, config: ExactConfig, folder: Path
) -> ExactVerdicts:
    """:func:`..evaluation.exact.exact_robustness` of ``after`` on ``test`` with ``config``'s budget and probe,
    stored under ``folder`` keyed by the weights, structure and settings of ``after`` (a median
    filter has no weights), the images, k, eps, budget, probe and the code's version (a warm
    rerun loads it)."""
    key = hashlib.sha256(
        repr(
            (
                model_digest(after),
                repr(after),
                module_settings(after),
                tensor_digest(test.images, test.labels),
                k,
                eps,
                config.budget,
                config.probe,
                VERSION,
                torch.__version__,
            )
        ).encode()
    ).hexdigest()[:16]
    file = Path(folder) / f"exact-{key}.safetensors"
    if file.exists():
        return ExactVerdicts.from_tensors(st_load(file.read_bytes()))
    verdicts = exact_robustness(after, test.images, test.labels, k, eps, config.budget, config.probe)
    atomic_write(file, st_save(verdicts.tensors()))
    return verdicts


def exact_vs_cascade(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """One row per test image and eps of the profile's exact grid: the exact status (robust /
    broken / undecided within ``exact.budget``), the reachable and evaluated k-level images, the
    budget and probe they were searched with,
    whether the adaptive cascade leaves the image correct, and for broken images whether the
    witness breaks the deployed pipeline (it must)."""
    models = train_or_load(dataset, profile, data_root, workdir)
    test, k = models.test.sample(profile.exact.n_test), models.defense.quantizer.k
    after = nn.Sequential(models.defense.restorer, models.classifier).eval()
    deployed = Defended(models.defense, models.classifier).eval()
    frames, clean_correct = [], (predict(deployed, test.images) == test.labels).numpy()
    for eps in exact_eps(profile, dataset):
        verdicts = cached_exact(after, test, k, eps, profile.exact, Path(workdir) / "exact")
        attacked = adaptive_survivors(
            models.classifier, models.defense, test, eps, profile.attacks, Path(workdir) / "adversarial", profile.seed
        )
        broken = torch.tensor([s == "broken" for s in verdicts.status], device="cpu")
        breaks = torch.zeros_like(broken)
        breaks[broken] = predict(deployed, verdicts.witnesses[broken]) != test.labels[broken]
        frames.append(
            verdicts.frame().assign(
                dataset=test.info.display_name,
                k=k,
                eps=eps,
                budget=profile.exact.budget,
                probe=profile.exact.probe,
                image=range(len(test)),
                attacked_robust=attacked.numpy(),
                witness_breaks=breaks.numpy(),
                clean_correct=clean_correct,
                models=weights_ids(models.classifier, models.defense),
            )
        )
    return pd.concat(frames, ignore_index=True)


def exact_summary(per_image: pd.DataFrame, budget: int) -> pd.DataFrame:
    """Per dataset and eps: the exact robust accuracy over all n images (interval [robust, robust
    + undecided] / n and its 95 % Wilson bounds) and over the decided ones only, which are a
    selection (``selection`` says which: images with few reachable quantized images, i.e. few
    pixels near a rounding threshold, plus those a probe broke), the cascade's robust accuracy on
    all n and on the decided ones, and the two disagreements: images the attacks call robust that
    exact search breaks (their incompleteness) and images exact search proves robust that an
    attack broke (must be 0)."""
    rows = []
    for (dataset, eps), g in per_image.groupby(["dataset", "eps"], sort=False):
        n, c = len(g), g.status.value_counts().reindex(STATUSES, fill_value=0)
        attacked = int(g.attacked_robust.sum())
        decided = g[g.status != "undecided"]
        k = int(g.k.iloc[0]) if "k" in g else "k"
        rows.append(
            {
                "dataset": dataset,
                "eps": eps,
                "budget": budget,
                "n": n,
                **c.to_dict(),
                "decided": len(decided),
                "selection": f"the {len(decided)} of {n} images with at most {budget:,} reachable {k}-level images "
                "(all evaluated) or broken by a probe",
                "exact_of_decided": c.robust / len(decided) if len(decided) else float("nan"),
                "exact_of_decided_ci_low": wilson_interval(int(c.robust), len(decided))[0] if len(decided) else 0.0,
                "exact_of_decided_ci_high": wilson_interval(int(c.robust), len(decided))[1] if len(decided) else 1.0,
                "attacked_of_decided": decided.attacked_robust.mean() if len(decided) else float("nan"),
                "exact_low": c.robust / n,
                "exact_high": (c.robust + c.undecided) / n,
                "ci_low": wilson_interval(int(c.robust), n)[0],
                "ci_high": wilson_interval(int(c.robust + c.undecided), n)[1],
                "attacked": attacked / n,
                "attacked_ci_low": wilson_interval(attacked, n)[0],
                "attacked_ci_high": wilson_interval(attacked, n)[1],
                "attacks_miss": int((g.attacked_robust & (g.status == "broken")).sum()),
                "exact_contradicted": int((~g.attacked_robust & (g.status == "robust")).sum()),
                "models": merged_ids(g.get("models", [])),
            }
        )
    return pd.DataFrame(rows)


def undecided_by_budget(per_image: pd.DataFrame, budgets: list[int]) -> pd.DataFrame:
    """How many images a smaller budget b would leave undecided (probing ``min(probe, b)``
    patterns of an image with more than b reachable ones), read off one run's enumeration counts:
    an image is decided within b if it has at most b reachable images (fully enumerated), or if
    it is broken by its n-th evaluated image with n within what b evaluates. The run's own budget
    and probe come from the table (:func:`exact_vs_cascade` records them), and its counts are
    checked against them first (:func:`check_enumeration`): a read-off from a run that evaluated
    fewer patterns than it claims would call images decided that it never searched."""
    check_enumeration(per_image)
    rows = []
    for (dataset, eps), g in per_image.groupby(["dataset", "eps"], sort=False):
        run_budget, run_probe = int(g.budget.iloc[0]), int(g.probe.iloc[0])
        for b in budgets:
            if b > run_budget:
                raise ValueError(f"budget {b} is larger than the run's {run_budget}: rerun the exact search with it")
            depth = g.reachable.where(g.reachable <= b, min(run_probe, b))
            decided = (g.reachable <= b) | ((g.status == "broken") & (g.evaluated <= depth))
            rows.append(
                {"dataset": dataset, "eps": eps, "budget": b, "undecided": int((~decided).sum()), "n": len(g)}
                | {"models": merged_ids(g.get("models", []))}
            )
    return pd.DataFrame(rows)


def check_enumeration(per_image: pd.DataFrame) -> None:
    """Raise unless every row's counts are what :func:`..evaluation.exact.exact_robustness` with
    the row's ``budget`` and ``probe`` evaluates: a robust image had every one of its reachable
    images (at most the budget) evaluated, an undecided one more than the budget reachable and
    exactly ``probe`` evaluated, a broken one at most what its search could evaluate."""
    limit = per_image.reachable.where(per_image.reachable <= per_image.budget, per_image.probe)
    expected = {
        "robust": (per_image.reachable <= per_image.budget) & (per_image.evaluated == per_image.reachable),
        "undecided": (per_image.reachable > per_image.budget)
        & (per_image.evaluated == per_image.probe.clip(upper=per_image.reachable)),
        "broken": (per_image.evaluated >= 1) & (per_image.evaluated <= limit),
    }
    wrong = ~per_image.status.map(lambda s: s in expected) | pd.concat(
        [~ok & (per_image.status == s) for s, ok in expected.items()], axis=1
    ).any(axis=1)
    if wrong.any():
        bad = per_image[wrong]
        r, datasets = bad.iloc[0], ", ".join(map(str, bad.dataset.unique()))
        raise ValueError(
            f"{int(wrong.sum())} exact verdict(s) of {datasets} disagree with the budget and probe they record, "
            f"e.g. a {r.status} image at eps {r.eps:g} with {r.reachable:g} reachable and {r.evaluated} evaluated "
            f"under budget {r.budget}, probe {r.probe}: those rows were not made with those settings (or record "
            f"none); rerun the exact search for {datasets} (notebook 08's part for it)"
        )


def exact_checks(per_image: pd.DataFrame) -> pd.DataFrame:
    """What must hold, whatever the models: no attack breaks an image exact search proves
    robust, every witness breaks the deployed pipeline, and no image is called both."""
    broken = per_image.status == "broken"
    contradicted = int((~per_image.attacked_robust & (per_image.status == "robust")).sum())
    checks = [
        (
            "no attack breaks an image exact search proves robust",
            contradicted == 0,
            f"{contradicted} image(s) robust by exact search but broken by an attack",
        ),
        (
            "every exact witness breaks the deployed pipeline",
            bool(per_image.witness_breaks[broken].all()),
            f"{int(per_image.witness_breaks[broken].sum())} of {int(broken.sum())} witnesses misclassified",
        ),
    ]
    checks = pd.DataFrame(checks, columns=["check", "passed", "detail"])
    return checks.assign(models=merged_ids(per_image.get("models", [])))


def exact_ablation(
    dataset: str, profile: Profile, eps: float, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """What the restorer adds, exactly and under attack, on the same images at the same eps: the
    quantizer followed by nothing, by Feature Squeezing's 2 x 2 median filter (Xu et al. 2018) or
    by the trained restorer, in front of the same classifier; per variant the exact verdicts and
    the adaptive cascade's accuracy [95 % CI] (:func:`..evaluation.adaptive.adaptive_survivors`),
    so notebook 06's attack ablation and this exact one can be read side by side."""
    models = train_or_load(dataset, profile, data_root, workdir)
    test, k = models.test.sample(profile.exact.n_test), models.defense.quantizer.k
    after = {
        "quantizer alone": nn.Identity(),
        "quantizer + median 2x2": MedianFilter(2),
        "quantizer + restorer": models.defense.restorer,
    }
    rows = []
    for name in AFTER_QUANTIZER:
        pipeline = nn.Sequential(after[name], models.classifier).eval()
        counts = cached_exact(pipeline, test, k, eps, profile.exact, Path(workdir) / "exact").counts()
        defense = ReconstructionDefense(after[name], k).eval()
        cache = Path(workdir) / "adversarial"
        attacked = int(
            adaptive_survivors(models.classifier, defense, test, eps, profile.attacks, cache, profile.seed).sum()
        )
        low, high = wilson_interval(attacked, len(test))
        rows.append(
            {"dataset": test.info.display_name, "eps": eps, "defense": name, "n": len(test), **counts}
            | {"attacked": attacked / len(test), "attacked_ci_low": low, "attacked_ci_high": high}
            | {"models": weights_ids(models.classifier, defense)}
        )
    return pd.DataFrame(rows)
