"""Tables 1-3: the paper's protocol, and the defense (trained once per dataset) in front of other
classifiers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..attacks.registry import ATTACKS, PAPER_ATTACKS
from ..config.profiles import Profile, recipe_for
from ..data.datasets import ImageSet
from ..evaluation.scoring import evaluate, spread_of
from ..method.classifiers import DISPLAY, Classifier, paper_network
from ..method.defense import ReconstructionDefense
from ..reporting.paper import transfer_tables
from ..training.zoo import ModelsAndData, train_or_load, trained_classifier


def table_strengths(profile: Profile, dataset: str) -> dict[str, float]:
    """The strength of each of the paper's attacks in Tables 1-3: the dataset's table eps for
    FGSM/BIM, the profile's iterations for DeepFool/C&W."""
    eps = recipe_for(dataset).table_eps
    iterations = {"deepfool": profile.sweeps.deepfool_steps, "cw": profile.sweeps.cw_steps}
    return {a: iterations.get(a, eps) for a in PAPER_ATTACKS}


def paper_protocol_table(
    classifier: Classifier,
    defense: ReconstructionDefense,
    test: ImageSet,
    profile: Profile,
    workdir: Path = Path("runs"),
    l2_n_test: int | None = None,
) -> pd.DataFrame:
    """Tables 1-3's protocol: clean, then each paper attack at :func:`table_strengths`, made on
    the bare classifier and scored without and with the defense. With ``l2_n_test``, DeepFool and
    C&W-L2 (minimum-norm attacks: many gradient steps per image) score a seeded sample of that
    many test images (:meth:`ImageSet.sample`), as their rows' ``n`` and intervals say."""
    strengths = table_strengths(profile, test.info.name)
    defense_name = f"quantize k={defense.quantizer.k} + restorer"

    def score(images: ImageSet, attacks: list[tuple[str, float]]) -> pd.DataFrame:
        return evaluate(
            classifier,
            images,
            attacks,
            {"none": None, defense_name: defense},
            model_name=DISPLAY[classifier.arch],
            params=profile.attacks,
            cache_dir=Path(workdir) / "adversarial",
            seed=profile.seed,
        )

    if l2_n_test is None or l2_n_test >= len(test):
        return score(test, [("clean", 0), *strengths.items()])
    l2 = [(a, s) for a, s in strengths.items() if ATTACKS[a].strength == "iterations"]
    linf = [("clean", 0), *((a, s) for a, s in strengths.items() if (a, s) not in l2)]
    return pd.concat([score(test, linf), score(test.sample(l2_n_test, profile.seed), l2)], ignore_index=True)


def transfer_archs(profile: Profile, dataset: str) -> tuple[str, ...]:
    """The classifiers of Tables 1-3 for ``dataset``: the main one, then each of the profile's
    transfer classifiers whose paper counterpart is in the paper's table for that dataset
    (MNIST: LeNet, GoogLeNet; Fashion-MNIST and CIFAR-10: GoogLeNet, ResNet-101); all of them
    for a dataset the paper does not have."""
    in_paper = set(transfer_tables().query("dataset == @dataset").network)
    main = profile.classifier.arch
    return (
        main,
        *[a for a in profile.classifier.transfer if a != main and (not in_paper or paper_network(a) in in_paper)],
    )


def transfer_table(models: ModelsAndData, profile: Profile, workdir: Path = Path("runs")) -> pd.DataFrame:
    """Tables 1-3's protocol: the defense trained once (with the main classifier) put in front
    of the other classifiers of :func:`transfer_archs`, each trained here, attacked at the paper's
    table strengths."""
    archs = transfer_archs(profile, models.train.info.name)
    tables = [
        paper_protocol_table(
            trained_classifier(arch, models.train, profile, workdir), models.defense, models.test, profile, workdir
        ).assign(arch=arch)
        for arch in archs
    ]
    return pd.concat(tables, ignore_index=True)


def seed_spread(
    models: ModelsAndData, profile: Profile, data_root: str | None = None, workdir: Path = Path("runs")
) -> pd.DataFrame:
    """Training variance of the main row of Tables 1-3: the main classifier and its restorer
    trained under each of the profile's ``spread.seeds``, each scored with
    :func:`paper_protocol_table` on ``models``' test images with the profile's attack seed. Per
    (defense, attack, strength): the mean, lowest and highest accuracy and the number of seeds
    (no rows for a dataset outside ``spread.datasets``)."""
    if models.train.info.name not in profile.spread.datasets:
        return pd.DataFrame(
            columns=["dataset", "model", "defense", "attack", "strength", "mean", "low", "high", "seeds"]
        )
    runs = []
    for seed in profile.spread.seeds:
        trained = train_or_load(models.train.info.name, replace(profile, seed=seed), data_root, workdir)
        runs.append(paper_protocol_table(trained.classifier, trained.defense, models.test, profile, workdir))
    return spread_of(pd.concat(runs, ignore_index=True), ["dataset", "model", "defense", "attack", "strength"])
