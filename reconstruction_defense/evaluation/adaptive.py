"""Adaptive evaluation: attacks that know the defense (Athalye, Carlini & Wagner 2018; Carlini et
al. 2019, "On Evaluating Adversarial Robustness"), beside the paper's defense-blind protocol.

The attacker sees quantizer, restorer and classifier. Rounding has a zero gradient almost
everywhere, so gradient attacks go through BPDA: the quantizer's straight-through mode (forward
= rounding, backward = identity). Robust accuracy per image is the minimum over every attack run.
Tables hold attack keys (``"pgd"``, ``"apgd_ce (cascade)"``) beside the row labels of transfers
and the worst case; :func:`~reconstruction_defense.attacks.registry.display_name` shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from ..attacks.versions import PROVENANCE, with_provenance
from ..config.attack_params import AttackParams
from ..config.profiles import recipe_for
from ..data.datasets import ImageSet
from ..data.weights import merged_ids
from ..method.defense import Defended, ReconstructionDefense
from ..method.restorer import straight_through_copy
from .scoring import adversarial_examples, predict, wilson_interval

ATTACKS_ON_ALL_IMAGES = ("fgsm", "pgd")  # not cascaded: their own accuracies are checked
DOUBLED = "pgd x2"  # the cascade's convergence stage
THROUGH_CLAMP = "pgd through clamp"  # PGD with the restorer's output clamp straight-through too


def doubled(params: AttackParams) -> AttackParams:
    """``params`` with twice PGD's steps and restarts (Carlini et al. 2019: a converged attack
    gains nothing from more iterations)."""
    return replace(params, pgd_steps=2 * params.pgd_steps, pgd_restarts=2 * params.pgd_restarts)


def cascade_label(attack: str) -> str:
    """Row label of a cascaded attack (its key, or a transfer's name): its accuracy is the running
    worst case once it has run."""
    return f"{attack} (cascade)"


def bpda_pipeline(defense: ReconstructionDefense, classifier: nn.Module, through_clamp: bool = False) -> Defended:
    """classifier(restorer(q_k(x))) with the straight-through quantizer: the same function as the
    deployed defense (forward = rounding), differentiable for the attacker; ``through_clamp``
    also makes the restorer's output clamp straight-through."""
    restorer = straight_through_copy(defense.restorer) if through_clamp else defense.restorer
    return Defended(ReconstructionDefense(restorer, defense.quantizer.k, straight_through=True), classifier).eval()


def accuracy_row(test: ImageSet, model: str, threat: str, attack: str, eps: float, correct: Tensor) -> dict:
    """One table row: the share of ``correct`` images with its 95 % Wilson interval."""
    hits = int(correct.sum())
    lo, hi = wilson_interval(hits, len(correct))
    return {
        "dataset": test.info.display_name,
        "model": model,
        "threat": threat,
        "attack": attack,
        "eps": eps,
        "accuracy": hits / len(correct),
        "n": len(correct),
        "ci_low": lo,
        "ci_high": hi,
    }


def _survival_at(test: ImageSet, eps: float, params: AttackParams, seed: int) -> Callable[..., Tensor]:
    """``survives(model, attack, folder, target, todo=None, budget=params)`` at ``eps``: which of
    ``test``'s images ``target`` still classifies right after ``attack`` made on ``model`` with
    ``budget`` (cached under ``folder``; attacked: only the ``todo`` ones, the others count as
    already lost)."""
    x, y = test.images, test.labels

    def survives(
        model: nn.Module,
        attack: str,
        folder: Path,
        target: nn.Module,
        todo: Tensor | None = None,
        budget: AttackParams = params,
    ) -> Tensor:
        todo = torch.ones_like(y, dtype=torch.bool) if todo is None else todo
        correct = torch.zeros_like(todo)
        if todo.any():
            adv = adversarial_examples(model, x[todo], y[todo], attack, eps, budget, folder, seed)
            correct[todo] = predict(target, adv) == y[todo]
        return correct

    return survives


def _cascade(
    pipeline: Defended, defense: ReconstructionDefense, surrogate: nn.Module | None, params: AttackParams
) -> list[tuple[str, nn.Module, str, AttackParams]]:
    """The cascade's stages in order: (row label, model attacked, attack, budget)."""
    stages = [(a, pipeline, a, params) for a in ("apgd_ce", "apgd_dlr")]
    if surrogate is not None:
        stages.append(("transfer from surrogate", bpda_pipeline(defense, surrogate), "pgd", params))
    through_clamp = bpda_pipeline(defense, pipeline.classifier, through_clamp=True)
    stages += [
        (THROUGH_CLAMP, through_clamp, "pgd", params),
        ("flip", through_clamp, "flip", params),
        (DOUBLED, pipeline, "pgd", doubled(params)),
    ]
    return stages + [("square", pipeline, "square", params)]  # gradient-free, last


def adaptive_table(
    classifier: nn.Module,
    defense: ReconstructionDefense,
    test: ImageSet,
    eps_grid: list[float],
    params: AttackParams,
    cache_dir: Path,
    seed: int = 0,
    surrogate: nn.Module | None = None,
    model_name: str = "model",
) -> pd.DataFrame:
    """Accuracy vs eps of the defended classifier under each threat, one row per (threat, attack, eps):

    - ``paper``: BIM made on the bare classifier, scored through the defense (Zhang et al.'s
      protocol; also counted in the worst case);
    - ``undefended``: the attacks on the bare classifier, scored without defense (the baseline);
    - ``adaptive``: the attacks on the whole pipeline (BPDA for gradient attacks), and transfer of
      PGD examples made on the bare classifier and, if given, on ``surrogate`` behind the same
      defense.

    FGSM, PGD and transfer from the bare classifier run on every image. Then, as in AutoAttack
    (Croce & Hein 2020), APGD-CE, APGD-DLR, transfer from the surrogate, PGD through a
    straight-through restorer clamp too, the quantizer flip search
    (:mod:`~reconstruction_defense.attacks.quantizer`), PGD with twice the steps and restarts
    (``pgd x2``: what it still breaks says whether the gradient attacks had converged) and Square
    run in turn only on the images every earlier attack left correct;
    their rows (``... (cascade)``) hold the running worst case. ``worst case`` counts an image
    as robust only if it survived all.
    """
    pipeline = bpda_pipeline(defense, classifier)
    x, y = test.images, test.labels
    rows = [
        accuracy_row(test, model_name, t, "clean", 0.0, predict(m, x) == y)
        for t, m in (("undefended", classifier), ("paper", pipeline), ("adaptive", pipeline))
    ]
    for eps in (e for e in eps_grid if e > 0):
        rows += _threats_at(eps, classifier, defense, test, params, cache_dir, seed, surrogate, model_name)[0]
    return with_provenance(pd.DataFrame(rows), classifier, defense, surrogate)


def adaptive_survivors(
    classifier: nn.Module,
    defense: ReconstructionDefense,
    test: ImageSet,
    eps: float,
    params: AttackParams,
    cache_dir: Path,
    seed: int = 0,
    surrogate: nn.Module | None = None,
) -> Tensor:
    """Per image of ``test``, whether the defended classifier survives every attack of
    :func:`adaptive_table`'s adaptive threat at ``eps`` (its worst case, image by image; the
    bare-classifier baseline is not run). Same cache keys, so a table's attacks are reused."""
    return _threats_at(eps, classifier, defense, test, params, cache_dir, seed, surrogate, baseline=False)[1]


def _threats_at(
    eps: float,
    classifier: nn.Module,
    defense: ReconstructionDefense,
    test: ImageSet,
    params: AttackParams,
    cache_dir: Path,
    seed: int,
    surrogate: nn.Module | None,
    model_name: str = "model",
    baseline: bool = True,
) -> tuple[list[dict], Tensor]:
    """:func:`adaptive_table`'s rows at one ``eps`` and the per-image worst case of its adaptive
    threat; ``baseline=False`` skips the attacks on the bare classifier (and their rows)."""
    pipeline = bpda_pipeline(defense, classifier)
    cache = Path(cache_dir) / f"bpda-k{defense.quantizer.k}"
    survives, rows = _survival_at(test, eps, params, seed), []
    robust = survives(classifier, "bim", cache_dir, pipeline)
    rows.append(accuracy_row(test, model_name, "paper", "bim", eps, robust))
    bare_robust = torch.ones_like(robust)
    for attack in ATTACKS_ON_ALL_IMAGES:
        if baseline:
            bare = survives(classifier, attack, cache_dir, classifier)
            rows.append(accuracy_row(test, model_name, "undefended", attack, eps, bare))
            bare_robust &= bare
        correct = survives(pipeline, attack, cache, pipeline)
        rows.append(accuracy_row(test, model_name, "adaptive", attack, eps, correct))
        robust &= correct
    robust &= survives(classifier, "pgd", cache_dir, pipeline)
    rows.append(accuracy_row(test, model_name, "adaptive", "transfer from bare classifier", eps, robust))
    for label, source, attack, budget in _cascade(pipeline, defense, surrogate, params):
        if source is pipeline and baseline:  # the same attack on the bare classifier: the baseline
            bare_robust &= survives(classifier, attack, cache_dir, classifier, bare_robust, budget)
            rows.append(accuracy_row(test, model_name, "undefended", cascade_label(label), eps, bare_robust))
        robust &= survives(source, attack, cache, pipeline, robust, budget)
        rows.append(accuracy_row(test, model_name, "adaptive", cascade_label(label), eps, robust))
    if baseline:
        rows.append(accuracy_row(test, model_name, "undefended", "worst case", eps, bare_robust))
    rows.append(accuracy_row(test, model_name, "adaptive", "worst case", eps, robust))
    return rows, robust


WHITEBOX_CASCADE = ("pgd", "apgd_ce", "apgd_dlr", "square")


def whitebox_survivors(
    attacked: nn.Module,
    deployed: nn.Module,
    test: ImageSet,
    eps: float,
    params: AttackParams,
    cache_dir: Path,
    seed: int = 0,
) -> Tensor:
    """One cascade for any pipeline (Table 4's white-box column): PGD on every image of ``test``,
    then APGD-CE, APGD-DLR and Square on the images every earlier attack left correct, each made
    on ``attacked`` (the pipeline with BPDA where it has no gradient); per image, whether
    ``deployed`` still classifies it right after all of them."""
    survives = _survival_at(test, eps, params, seed)
    robust = torch.ones(len(test), dtype=torch.bool)
    for attack in WHITEBOX_CASCADE:
        robust &= survives(attacked, attack, cache_dir, deployed, robust)
    return robust


def sanity_checks(table: pd.DataFrame, tolerance: float = 0.01, convergence_tolerance: float = 0.01) -> pd.DataFrame:
    """Carlini et al.'s (2019) checklist on one dataset's :func:`adaptive_table`; one row per
    check with ``passed`` and the numbers behind it. No check is exempted: one that fails is
    reported as failed."""
    adaptive = table[table.threat == "adaptive"].set_index(["attack", "eps"]).accuracy
    bare = table[table.threat == "undefended"].set_index(["attack", "eps"]).accuracy
    eps = sorted(e for e in table.eps.unique() if e > 0)
    top = eps[-1]
    worst = [adaptive["worst case", e] for e in eps]
    one_image = 1 / table.n.iloc[0]  # below 100 images, one image is more than a point

    def gain(stage: str, e: float) -> float:  # what one cascade stage took off the worst case
        cascade = [a for a in adaptive.xs(e, level="eps").index if a.endswith("(cascade)")]
        at = cascade.index(cascade_label(stage))
        return adaptive[cascade[at - 1], e] - adaptive[cascade[at], e]

    checks = [
        (
            "undefended accuracy reaches about 0 at the largest eps",
            bare["worst case", top] <= 0.05,
            f"every attack together leaves {bare['worst case', top]:.1%} of the bare classifier at eps {top:g}",
        ),
        (
            "worst-case accuracy does not rise with eps",
            all(b <= a + tolerance for a, b in zip(worst, worst[1:])),
            " > ".join(f"{w:.1%}" for w in worst),
        ),
        (
            "iterative attacks at least as strong as single-step (PGD <= FGSM)",
            all(adaptive["pgd", e] <= adaptive["fgsm", e] + tolerance for e in eps),
            ", ".join(f"eps {e:g}: PGD {adaptive['pgd', e]:.1%} vs FGSM {adaptive['fgsm', e]:.1%}" for e in eps),
        ),
        (
            f"PGD with doubled steps and restarts breaks < {convergence_tolerance:.0%} more (else not converged)",
            all(gain(DOUBLED, e) < max(convergence_tolerance, one_image + 1e-9) for e in eps),
            ", ".join(
                f"eps {e:g}: after every earlier attack, doubled PGD removes {gain(DOUBLED, e):.1%}" for e in eps
            ),
        ),
        (
            "gradient-free attack finds < 5 points the gradient attacks missed (else masking)",
            all(gain("square", e) < 0.05 for e in eps),
            ", ".join(f"eps {e:g}: Square, last in the cascade, removes {gain('square', e):.1%}" for e in eps),
        ),
    ]
    checks = pd.DataFrame(checks, columns=["check", "passed", "detail"])
    return checks.assign(models=merged_ids(table.models)) if "models" in table else checks


VERDICT_SETTINGS = (
    ("undefended", "worst case", "no defense"),
    ("paper", "bim", "defense, paper's protocol"),
    ("adaptive", "worst case", "defense, adaptive attacks"),
)


def verdict_rows(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows of :func:`adaptive_table` the verdict reads, at the paper's table eps and at the
    field's standard eps, each named by its ``budget`` and ``setting``."""
    recipe, rows = recipe_for(dataset), []
    for label, eps in (("paper's eps", recipe.table_eps), ("field's eps", recipe.field_eps)):
        at = table[(table.eps - eps).abs() < 1e-6]  # the grid rounds eps to 6 decimals
        for threat, attack, name in VERDICT_SETTINGS:
            r = at[(at.threat == threat) & (at.attack == attack)].iloc[0]
            rows.append({**r.to_dict(), "budget": f"{label} {eps:g}", "setting": name})
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per dataset, at the paper's table eps and at the field's standard eps: accuracy without
    defense (worst case over attacks), with the defense under the paper's protocol, and with the
    defense under every adaptive attack (worst case), each with its 95% interval."""
    rows = verdict_rows(table, dataset)
    return rows.assign(accuracy=[f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]" for r in rows.itertuples()])[
        ["dataset", "model", "budget", "setting", "accuracy", "n", *(c for c in PROVENANCE if c in rows)]
    ]
