"""Notebooks 06 and 07: the adaptive evaluation (:mod:`reconstruction_defense.evaluation.adaptive`) run on one
dataset with a profile's budgets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
from torch import nn

from ..config.profiles import Profile, recipe_for
from ..evaluation.adaptive import adaptive_table, bpda_pipeline, sanity_checks, verdict_rows
from ..evaluation.adaptive_l2 import l2_table
from ..evaluation.checks import STRONGER, l2_convergence, reaches_zero, square_finds_nothing_new, standalone_convergence
from ..evaluation.scoring import spread_of
from ..method.baselines import MedianFilter
from ..method.classifiers import DISPLAY
from ..method.defense import ReconstructionDefense
from ..training.zoo import train_or_load, trained_classifier
from .transfer import transfer_archs


def surrogate_arch(profile: Profile, dataset: str) -> str:
    """The surrogate for transfer attacks: another architecture than the main classifier,
    preferably one notebook 04 already trained for ``dataset`` (the last of its Tables 1-3)."""
    candidates = (*profile.classifier.transfer, *transfer_archs(profile, dataset))
    return [a for a in candidates if a != profile.classifier.arch][-1]


def adaptive_evaluation(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 06's step for one dataset: the classifier and defense of notebook 02, a surrogate
    (:func:`surrogate_arch`), the :func:`adaptive_table` on the first ``adaptive.n_test`` test
    images over the profile's adaptive eps grid (doubled PGD included in its cascade), its
    :func:`sanity_checks`, :func:`reaches_zero` on the same images, and
    :func:`square_finds_nothing_new` (``adaptive.square_queries`` queries) on the first
    ``adaptive.square_n_test`` at the paper's and the field's eps, and
    :func:`standalone_convergence` of PGD, APGD-CE/DLR and Square through BPDA on the first
    ``adaptive.standalone_n_test`` at the same two eps."""
    models = train_or_load(dataset, profile, data_root, workdir)
    test = models.test.sample(profile.adaptive.n_test)
    surrogate = trained_classifier(surrogate_arch(profile, dataset), models.train, profile, workdir)
    eps, cache = profile.adaptive.eps_grid(dataset), Path(workdir) / "adversarial"
    table = adaptive_table(
        models.classifier,
        models.defense,
        test,
        [0.0, *eps],
        profile.attacks,
        cache,
        profile.seed,
        surrogate,
        DISPLAY[models.classifier.arch],
    )
    k, recipe = models.defense.quantizer.k, recipe_for(dataset)
    square = replace(profile.attacks, square_queries=profile.adaptive.square_queries)
    checks = pd.concat(
        [
            sanity_checks(table, convergence_tolerance=profile.adaptive.convergence_tolerance),
            reaches_zero(
                bpda_pipeline(models.defense, models.classifier),
                test,
                k,
                profile.attacks,
                cache / f"bpda-k{k}",
                profile.seed,
            ),
            *(
                square_finds_nothing_new(
                    models.defense,
                    models.classifier,
                    test.sample(profile.adaptive.square_n_test),
                    e,
                    square,
                    cache / f"bpda-k{k}",
                    profile.seed,
                )
                for e in (recipe.table_eps, recipe.field_eps)
            ),
            *(
                standalone_convergence(
                    bpda_pipeline(models.defense, models.classifier),
                    test.sample(profile.adaptive.standalone_n_test),
                    attack,
                    e,
                    profile.attacks,
                    cache / f"bpda-k{k}",
                    profile.seed,
                    profile.adaptive.standalone_tolerance,
                )
                for e in (recipe.table_eps, recipe.field_eps)
                for attack in STRONGER
            ),
        ],
        ignore_index=True,
    )
    return table, checks.assign(dataset=test.info.display_name)


def adaptive_seed_spread(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Training variance of notebook 06's verdict: the main classifier and its restorer trained
    under each of the profile's ``spread.seeds`` (on its ``spread.datasets``), each attacked by
    the same :func:`adaptive_table` cascade (the profile's surrogate and attack seed) on the first
    ``adaptive.spread_n_test`` test images at the paper's and the field's eps. Per budget and
    setting of the verdict: the mean, lowest and highest accuracy and the number of seeds."""
    if dataset not in profile.spread.datasets:
        return pd.DataFrame(columns=["dataset", "budget", "setting", "n", "mean", "low", "high", "seeds"])
    models = train_or_load(dataset, profile, data_root, workdir)
    test, recipe = models.test.sample(profile.adaptive.spread_n_test), recipe_for(dataset)
    surrogate = trained_classifier(surrogate_arch(profile, dataset), models.train, profile, workdir)
    runs = []
    for seed in profile.spread.seeds:
        trained = train_or_load(dataset, replace(profile, seed=seed), data_root, workdir)
        table = adaptive_table(
            trained.classifier,
            trained.defense,
            test,
            [0.0, recipe.table_eps, recipe.field_eps],
            profile.attacks,
            Path(workdir) / "adversarial",
            profile.seed,
            surrogate,
        )
        runs.append(verdict_rows(table, dataset).assign(dataset=test.info.display_name))
    return spread_of(pd.concat(runs, ignore_index=True), ["dataset", "budget", "setting", "n"])


ABLATION = ("quantizer alone", "quantizer + median 2x2", "quantizer + restorer")


def ablation(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """What the restorer adds (notebook 06): the same k-level quantizer followed by nothing, by
    Feature Squeezing's 2 x 2 median filter (Xu et al. 2018), or by the trained restorer, each in
    front of the same classifier under the same :func:`adaptive_table` cascade (without the
    surrogate transfer) on the first ``adaptive.ablation_n_test`` test images, at the paper's and
    the field's eps. Rows: clean accuracy, the paper's protocol and the adaptive worst case."""
    models = train_or_load(dataset, profile, data_root, workdir)
    test, recipe = models.test.sample(profile.adaptive.ablation_n_test), recipe_for(dataset)
    after = {
        "quantizer alone": nn.Identity(),
        "quantizer + median 2x2": MedianFilter(2),
        "quantizer + restorer": models.defense.restorer,
    }
    tables = []
    for name in ABLATION:
        defense = ReconstructionDefense(after[name], models.defense.quantizer.k).eval()
        table = adaptive_table(
            models.classifier,
            defense,
            test,
            [0.0, recipe.table_eps, recipe.field_eps],
            profile.attacks,
            Path(workdir) / "adversarial",
            profile.seed,
            model_name=name,
        )
        keep = ((table.threat == "adaptive") & table.attack.isin(["clean", "worst case"])) | (
            (table.threat == "paper") & (table.attack == "bim")
        )
        tables.append(table[keep])
    return pd.concat(tables, ignore_index=True).rename(columns={"model": "defense"})


def l2_evaluation(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Notebook 06's L2 step for one dataset: :func:`l2_table` on the first ``adaptive.cw_n_test``
    test images, C&W with the profile's ``cw_steps``, at the dataset's L2 radii."""
    models = train_or_load(dataset, profile, data_root, workdir)
    return l2_table(
        models.classifier,
        models.defense,
        models.test.sample(profile.adaptive.cw_n_test),
        profile.sweeps.cw_steps,
        recipe_for(dataset).l2_radii,
        profile.attacks,
        Path(workdir) / "adversarial",
        profile.seed,
        DISPLAY[models.classifier.arch],
    )


def cw_convergence(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Notebook 06's check that C&W-L2 has converged (:func:`l2_convergence`): on the bare main
    classifier over the profile's test images, at the DeepFool and C&W iterations of Tables 1-3
    (whose cached sets it reuses)."""
    models = train_or_load(dataset, profile, data_root, workdir)
    return l2_convergence(
        models.classifier,
        models.test,
        profile.attacks,
        profile.sweeps.cw_steps,
        profile.sweeps.deepfool_steps,
        Path(workdir) / "adversarial",
        profile.seed,
    )


def adversarial_training_evaluation(
    dataset: str, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Notebook 07: the dataset's restorer in front of the classifier adversarially trained with
    BIM at the dataset's largest eps (Table 4's "Adversarial BIM", Kurakin et al. 2017), under the
    same threats as :func:`adaptive_table` (no surrogate)."""
    models = train_or_load(dataset, profile, data_root, workdir)
    recipe = recipe_for(dataset)
    robust = trained_classifier(profile.classifier.arch, models.train, profile, workdir, ("bim", recipe.max_eps))
    name = f"{DISPLAY[robust.arch]}, adv. trained (BIM, eps {recipe.max_eps:g})"
    return adaptive_table(
        robust,
        models.defense,
        models.test.sample(profile.adaptive.n_test),
        [0.0, *profile.adaptive.eps_grid(dataset)],
        profile.attacks,
        Path(workdir) / "adversarial",
        profile.seed,
        model_name=name,
    )
