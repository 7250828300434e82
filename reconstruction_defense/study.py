"""The study's steps, cached by config: train (or load) a classifier and a restorer for a dataset
under a profile, and score them with the paper's protocol."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .attacks import AttackParams
from .checkpoints import config_key
from .data import ImageSet
from .defense import ReconstructionDefense
from .evaluate import evaluate, model_digest, tensor_digest
from .models import Restorer, build_classifier
from .models.classifiers import DISPLAY, Classifier
from .profiles import Profile, recipe_for
from .train import classifier_epoch, fit, restorer_epoch


def attack_params(profile: Profile) -> AttackParams:
    """The attack knobs of a profile."""
    return AttackParams(bim_steps=profile.bim_steps, cw_c=profile.cw_c, cw_lr=profile.cw_lr,
                        cw_search_steps=profile.cw_search_steps)


def _stem(workdir: Path, kind: str, dataset: str, config: dict) -> Path:
    return Path(workdir) / "checkpoints" / f"{dataset}-{kind}-{config_key(config)}"


def trained_classifier(arch: str, train: ImageSet, profile: Profile, workdir: Path = Path("runs"),
                       adversarial: tuple[str, float] | None = None) -> Classifier:
    """Classifier ``arch`` trained on ``train`` (loaded from its checkpoint when already done).

    With ``adversarial`` = (attack, eps) it is adversarially trained (Goodfellow et al. 2015).
    """
    config = {"kind": "classifier", "arch": arch, "dataset": train.info.display_name,
              "train_images": tensor_digest(train.indices)[:16], "epochs": profile.classifier_epochs,
              "lr": profile.lr, "batch_size": profile.batch_size, "seed": profile.seed,
              "adversarial": adversarial}
    torch.manual_seed(profile.seed)
    model = build_classifier(arch, train.info)
    epoch_fn = classifier_epoch(train, profile.batch_size, profile.seed, adversarial,
                                attack_params(profile))
    model.history = fit(model, epoch_fn, profile.classifier_epochs, profile.lr, config,
                        _stem(workdir, arch, train.info.name, config))
    return model


def trained_defense(classifier: Classifier, train: ImageSet, profile: Profile,
                    workdir: Path = Path("runs")) -> ReconstructionDefense:
    """The quantize-then-restore defense for ``train``'s dataset, restorer trained with the
    paper's recipe (FGSM at the dataset's largest eps against ``classifier``)."""
    recipe = recipe_for(train.info.name)
    cfg = profile.restorer
    config = {"kind": "restorer", "dataset": train.info.display_name, "k": recipe.k,
              "eps": recipe.max_eps, "adv_fraction": profile.adv_fraction,
              "classifier": model_digest(classifier)[:16], "train_images": tensor_digest(train.indices)[:16],
              "n_blocks": cfg.n_blocks, "n_feats": cfg.n_feats, "res_scale": cfg.res_scale,
              "epochs": profile.restorer_epochs, "lr": profile.lr, "batch_size": profile.batch_size,
              "seed": profile.seed}
    torch.manual_seed(profile.seed)
    restorer = Restorer(train.info.channels, cfg.n_blocks, cfg.n_feats, cfg.res_scale)
    epoch_fn = restorer_epoch(train, classifier, recipe.k, recipe.max_eps, profile.adv_fraction,
                              profile.batch_size, profile.seed)
    history = fit(restorer, epoch_fn, profile.restorer_epochs, profile.lr, config,
                  _stem(workdir, "restorer", train.info.name, config))
    defense = ReconstructionDefense(restorer, recipe.k).eval()
    defense.history = history
    return defense


def paper_protocol_table(classifier: Classifier, defense: ReconstructionDefense, test: ImageSet,
                         profile: Profile, workdir: Path = Path("runs")) -> pd.DataFrame:
    """Tables 1-3's protocol: clean, FGSM and BIM at the paper's eps, DeepFool and C&W at the
    profile's iterations, attacks made on the bare classifier, scored without and with defense."""
    eps = recipe_for(test.info.name).table_eps
    attacks = [("clean", 0), ("fgsm", eps), ("bim", eps), ("deepfool", profile.deepfool_steps),
               ("cw", profile.cw_steps)]
    defense_name = f"quantize k={defense.quantizer.k} + restorer"
    return evaluate(classifier, test, attacks, {"none": None, defense_name: defense},
                    model_name=DISPLAY[classifier.arch], params=attack_params(profile),
                    cache_dir=Path(workdir) / "adversarial", seed=profile.seed)
