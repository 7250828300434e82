"""Adaptive evaluation: attacks that know the defense (Athalye, Carlini & Wagner 2018; Carlini et
al. 2019, "On Evaluating Adversarial Robustness"), beside the paper's defense-blind protocol.

The attacker sees quantizer, restorer and classifier. Rounding has a zero gradient almost
everywhere, so gradient attacks go through BPDA: the quantizer's straight-through mode (forward
= rounding, backward = identity). Robust accuracy per image is the minimum over every attack run.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn

from .attacks import ATTACKS, AttackParams
from .data import ImageSet
from .defense import Defended, ReconstructionDefense
from .evaluate import adversarial_examples, predict, wilson_interval
from .models.classifiers import DISPLAY
from .profiles import Profile, recipe_for
from .study import attack_params, prepare, trained_classifier

GRADIENT = ("fgsm", "pgd", "apgd_ce", "apgd_dlr")  # white-box through BPDA
GRADIENT_FREE = ("square",)


def bpda_pipeline(defense: ReconstructionDefense, classifier: nn.Module) -> Defended:
    """classifier(restorer(q_k(x))) with the straight-through quantizer: the same function as the
    deployed defense (forward = rounding), differentiable for the attacker."""
    return Defended(ReconstructionDefense(defense.restorer, defense.quantizer.k, straight_through=True),
                    classifier).eval()


def _row(test: ImageSet, model: str, threat: str, attack: str, eps: float, correct: Tensor) -> dict:
    hits = int(correct.sum())
    lo, hi = wilson_interval(hits, len(correct))
    return {"dataset": test.info.display_name, "model": model, "threat": threat, "attack": attack,
            "eps": eps, "accuracy": hits / len(correct), "n": len(correct), "ci_low": lo, "ci_high": hi}


def adaptive_table(classifier: nn.Module, defense: ReconstructionDefense, test: ImageSet,
                   eps_grid: list[float], params: AttackParams, cache_dir: Path, seed: int = 0,
                   surrogate: nn.Module | None = None, model_name: str = "model") -> pd.DataFrame:
    """Accuracy vs eps of the defended classifier under each threat, one row per (threat, attack, eps):

    - ``paper``: BIM made on the bare classifier, scored through the defense (Zhang et al.'s
      protocol; also counted in the worst case);
    - ``undefended``: every attack on the bare classifier, scored without defense (the baseline);
    - ``adaptive``: every attack on the whole pipeline (BPDA for gradient attacks), and transfer
      of PGD examples made on the bare classifier and, if given, on ``surrogate`` behind the same
      defense; its ``worst case`` row counts an image as robust only if it survives all of them.
    """
    pipeline = bpda_pipeline(defense, classifier)
    cache = Path(cache_dir) / f"bpda-k{defense.quantizer.k}"
    x, y = test.images, test.labels
    rows = [_row(test, model_name, t, "clean", 0.0, predict(m, x) == y)
            for t, m in (("undefended", classifier), ("paper", pipeline), ("adaptive", pipeline))]
    for eps in (e for e in eps_grid if e > 0):
        def made_on(model: nn.Module, attack: str, folder: Path) -> Tensor:
            return adversarial_examples(model, x, y, attack, eps, params, folder, seed)
        robust = predict(pipeline, made_on(classifier, "bim", cache_dir)) == y
        rows.append(_row(test, model_name, "paper", "BIM", eps, robust))
        bare_robust = torch.ones_like(robust)
        for attack in GRADIENT + GRADIENT_FREE:
            bare = predict(classifier, made_on(classifier, attack, cache_dir)) == y
            rows.append(_row(test, model_name, "undefended", ATTACKS[attack].display, eps, bare))
            bare_robust &= bare
            correct = predict(pipeline, made_on(pipeline, attack, cache)) == y
            rows.append(_row(test, model_name, "adaptive", ATTACKS[attack].display, eps, correct))
            robust &= correct
        rows.append(_row(test, model_name, "undefended", "worst case", eps, bare_robust))
        sources = {"transfer from bare classifier": classifier}
        if surrogate is not None:
            sources["transfer from surrogate"] = bpda_pipeline(defense, surrogate)
        for label, source in sources.items():
            folder = cache if source is not classifier else cache_dir
            correct = predict(pipeline, made_on(source, "pgd", folder)) == y
            rows.append(_row(test, model_name, "adaptive", label, eps, correct))
            robust &= correct
        rows.append(_row(test, model_name, "adaptive", "worst case", eps, robust))
    return pd.DataFrame(rows)


def sanity_checks(table: pd.DataFrame, doubled: pd.DataFrame | None = None,
                  tolerance: float = 0.01) -> pd.DataFrame:
    """Carlini et al.'s (2019) checklist on one dataset's :func:`adaptive_table`; one row per
    check with ``passed`` and the numbers behind it. ``doubled`` is the same table's PGD rows
    rerun with twice the steps and restarts (convergence check), when available."""
    adaptive = table[table.threat == "adaptive"].set_index(["attack", "eps"]).accuracy
    bare = table[table.threat == "undefended"].set_index(["attack", "eps"]).accuracy
    eps = sorted(e for e in table.eps.unique() if e > 0)
    top = eps[-1]
    worst = [adaptive["worst case", e] for e in eps]
    gradient = min(adaptive[ATTACKS[a].display, top] for a in GRADIENT)
    checks = [
        ("undefended accuracy reaches about 0 at the largest eps",
         min(bare[ATTACKS[a].display, top] for a in GRADIENT) <= 0.05,
         f"best undefended attack leaves {min(bare[ATTACKS[a].display, top] for a in GRADIENT):.1%} at eps {top:g}"),
        ("worst-case accuracy does not rise with eps",
         all(b <= a + tolerance for a, b in zip(worst, worst[1:])),
         " > ".join(f"{w:.1%}" for w in worst)),
        ("iterative attacks at least as strong as single-step (PGD <= FGSM)",
         all(adaptive["PGD", e] <= adaptive["FGSM", e] + tolerance for e in eps),
         ", ".join(f"eps {e:g}: PGD {adaptive['PGD', e]:.1%} vs FGSM {adaptive['FGSM', e]:.1%}" for e in eps)),
        ("gradient-free attack not stronger than gradient attacks by > 5 points (else masking)",
         adaptive["Square", top] >= gradient - 0.05,
         f"Square {adaptive['Square', top]:.1%} vs best gradient attack {gradient:.1%} at eps {top:g}"),
    ]
    if doubled is not None:
        twice = doubled.set_index("eps").accuracy
        change = max(abs(twice[e] - adaptive["PGD", e]) for e in twice.index)
        one_image = 1 / table.n.iloc[0]  # below 100 images, one image is more than a point
        checks.append(("doubling PGD steps and restarts changes accuracy by < 1 point",
                       change < max(0.01, one_image + 1e-9), f"largest change {change:.1%}"))
    return pd.DataFrame(checks, columns=["check", "passed", "detail"])


def doubled_pgd(classifier: nn.Module, defense: ReconstructionDefense, test: ImageSet,
                eps_grid: list[float], params: AttackParams, cache_dir: Path, seed: int = 0
                ) -> pd.DataFrame:
    """PGD through BPDA with twice the steps and restarts of ``params``, per eps (convergence check)."""
    pipeline = bpda_pipeline(defense, classifier)
    stronger = AttackParams(**{**params.__dict__, "pgd_steps": 2 * params.pgd_steps,
                               "pgd_restarts": 2 * params.pgd_restarts})
    rows = []
    for eps in (e for e in eps_grid if e > 0):
        adv = adversarial_examples(pipeline, test.images, test.labels, "pgd", eps, stronger,
                                   Path(cache_dir) / f"bpda-k{defense.quantizer.k}", seed)
        rows.append(_row(test, "", "adaptive", "PGD x2", eps, predict(pipeline, adv) == test.labels))
    return pd.DataFrame(rows)


def evaluate_dataset(dataset: str, profile: Profile, data_root: str | None = None,
                     workdir: Path = Path("runs")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 06's step for one dataset: the classifier and defense of notebook 02, a surrogate
    (the profile's last transfer classifier, trained independently as in notebook 04), the
    :func:`adaptive_table` on the first ``adaptive_n_test`` test images over the profile's
    adaptive eps grid, and its :func:`sanity_checks` (with the doubled-PGD convergence check)."""
    setup = prepare(dataset, profile, data_root, workdir)
    test = setup.test.head(profile.adaptive_n_test)
    surrogate_arch = next(a for a in reversed(profile.transfer_classifiers) if a != profile.classifier)
    surrogate = trained_classifier(surrogate_arch, setup.train, profile, workdir)
    eps, params, cache = profile.adaptive_eps_grid(dataset), attack_params(profile), Path(workdir) / "adversarial"
    table = adaptive_table(setup.classifier, setup.defense, test, [0.0, *eps], params, cache,
                           profile.seed, surrogate, DISPLAY[setup.classifier.arch])
    doubled = doubled_pgd(setup.classifier, setup.defense, test, eps, params, cache, profile.seed)
    return table, sanity_checks(table, doubled).assign(dataset=test.info.display_name)


def verdict(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per dataset, at the paper's table eps and at the field's standard eps: accuracy without
    defense (worst case over attacks), with the defense under the paper's protocol, and with the
    defense under every adaptive attack (worst case), each with its 95% interval."""
    recipe = recipe_for(dataset)
    rows = []
    for label, eps in (("paper's eps", recipe.table_eps), ("field's eps", recipe.field_eps)):
        at = table[(table.eps - eps).abs() < 1e-6]  # the grid rounds eps to 6 decimals
        for threat, attack, name in (("undefended", "worst case", "no defense"),
                                     ("paper", "BIM", "defense, paper's protocol"),
                                     ("adaptive", "worst case", "defense, adaptive attacks")):
            r = at[(at.threat == threat) & (at.attack == attack)].iloc[0]
            rows.append({"dataset": r.dataset, "budget": f"{label} {eps:g}", "setting": name,
                         "accuracy": f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]", "n": r.n})
    return pd.DataFrame(rows)
