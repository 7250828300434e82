"""The study's steps, cached by config: train (or load) a classifier and a restorer for a dataset
under a profile, and score them with the paper's protocol."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn

from .attacks import ATTACKS, AttackParams
from .baselines import (ComDefend, FeatureSqueezing, JPEGCompression, PixelCNN, PixelDefend,
                        SqueezeDetector)
from .checkpoints import atomic_write, config_key
from .data import ImageSet, load_dataset
from .defense import ReconstructionDefense
from .evaluate import (adversarial_examples, evaluate, model_digest, predict, tensor_digest,
                       wilson_interval)
from .models import Restorer, build_classifier
from .models.classifiers import DISPLAY, Classifier, paper_network
from .paper import transfer_tables
from .profiles import Profile, recipe_for
from .quantize import Quantizer, quantize
from .train import classifier_epoch, comdefend_epoch, fit, pixelcnn_epoch, restorer_epoch


ATTACK_DISPLAY = {name: info.display for name, info in ATTACKS.items()}


def attack_params(profile: Profile) -> AttackParams:
    """The attack knobs of a profile."""
    return AttackParams(bim_steps=profile.bim_steps, cw_c=profile.cw_c, cw_lr=profile.cw_lr,
                        cw_search_steps=profile.cw_search_steps, pgd_steps=profile.pgd_steps,
                        pgd_restarts=profile.pgd_restarts, apgd_steps=profile.apgd_steps,
                        square_queries=profile.square_queries, batch_size=profile.attack_batch_size)


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


def trained_comdefend(train: ImageSet, profile: Profile, workdir: Path = Path("runs")) -> ComDefend:
    """ComDefend (Jia et al. 2019) trained on ``train``'s clean images; cached like the others."""
    config = {"kind": "comdefend", "dataset": train.info.display_name,
              "train_images": tensor_digest(train.indices)[:16], "epochs": profile.comdefend_epochs,
              "code_weight": profile.comdefend_code_weight, "lr": profile.comdefend_lr,
              "batch_size": profile.batch_size, "seed": profile.seed}
    torch.manual_seed(profile.seed)
    model = ComDefend(train.info.channels)
    epoch_fn = comdefend_epoch(train, profile.comdefend_code_weight, profile.batch_size, profile.seed)
    model.history = fit(model, epoch_fn, profile.comdefend_epochs, profile.comdefend_lr, config,
                        _stem(workdir, "comdefend", train.info.name, config))
    return model.eval()


def trained_pixelcnn(train: ImageSet, profile: Profile, workdir: Path = Path("runs")) -> PixelCNN:
    """PixelDefend's density model (Song et al. 2018), trained on ``train``'s clean images."""
    config = {"kind": "pixelcnn", "dataset": train.info.display_name,
              "train_images": tensor_digest(train.indices)[:16], "width": profile.pixelcnn_width,
              "blocks": profile.pixelcnn_blocks, "epochs": profile.pixelcnn_epochs,
              "lr": profile.pixelcnn_lr, "batch_size": profile.batch_size, "seed": profile.seed}
    torch.manual_seed(profile.seed)
    model = PixelCNN(train.info.channels, profile.pixelcnn_width, profile.pixelcnn_blocks)
    model.history = fit(model, pixelcnn_epoch(train, profile.batch_size, profile.seed),
                        profile.pixelcnn_epochs, profile.pixelcnn_lr, config,
                        _stem(workdir, "pixelcnn", train.info.name, config))
    return model.eval()


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


def pixel_depth_table(classifier: Classifier, test: ImageSet, profile: Profile,
                      workdir: Path = Path("runs")) -> pd.DataFrame:
    """Figure 3's data: the undefended classifier on k-level quantized clean and FGSM images,
    for every k of the profile's grid and every eps of its sweep (no restorer)."""
    attacks = [("clean", 0)] + [("fgsm", e) for e in profile.eps_grid(test.info.name) if e > 0]
    return evaluate(classifier, test, attacks, {f"k={k}": Quantizer(k) for k in profile.k_grid},
                    model_name=DISPLAY[classifier.arch], params=attack_params(profile),
                    cache_dir=Path(workdir) / "adversarial", seed=profile.seed)


def strength_table(classifier: Classifier, defense: ReconstructionDefense, test: ImageSet,
                   profile: Profile, workdir: Path = Path("runs")) -> pd.DataFrame:
    """Figures 6-8's data: accuracy vs strength (eps for FGSM/BIM, iterations for DeepFool/C&W),
    without and with the defense, attacks made on the bare classifier."""
    eps = profile.eps_grid(test.info.name)
    attacks = ([("clean", 0)] + [(a, e) for a in ("fgsm", "bim") for e in eps]
               + [(a, i) for a in ("deepfool", "cw") for i in profile.iteration_grid])
    return evaluate(classifier, test, attacks, {"none": None, "defense": defense},
                    model_name=DISPLAY[classifier.arch], params=attack_params(profile),
                    cache_dir=Path(workdir) / "adversarial", seed=profile.seed)


def pipeline_examples(classifier: Classifier, defense: ReconstructionDefense, test: ImageSet,
                      profile: Profile, workdir: Path = Path("runs"), index: int = 0) -> dict:
    """Figure 5's data for one test image: per attack (at the table strength), the clean,
    adversarial, quantized and restored images and the classifier's prediction on each."""
    eps = recipe_for(test.info.name).table_eps
    strengths = {"fgsm": eps, "bim": eps, "deepfool": profile.deepfool_steps, "cw": profile.cw_steps}
    x, y = test.images[index:index + 1], test.labels[index:index + 1]
    rows: dict[str, list] = {"clean": [], "adversarial": [], "quantized": [], "restored": []}
    preds: dict[str, list] = {name: [] for name in rows}
    for attack, strength in strengths.items():
        adv = adversarial_examples(classifier, x, y, attack, strength, attack_params(profile),
                                   Path(workdir) / "adversarial", profile.seed)
        quantized = quantize(adv, defense.quantizer.k)
        restored = defense(adv).detach()
        for name, image in zip(rows, (x, adv, quantized, restored)):
            rows[name].append(image[0])
            preds[name].append(test.info.classes[int(predict(classifier, image)[0])])
    return {"rows": rows, "predictions": preds, "label": test.info.classes[int(y[0])],
            "columns": [ATTACK_DISPLAY[a] for a in strengths]}


def output_dirs(profile: Profile, figures: Path = Path("figures"), results: Path = Path("results"),
                workdir: Path = Path("runs")) -> tuple[Path, Path]:
    """Where a run writes its figures and tables: the published ``figures/`` and ``results/``
    for the ``cpu`` and ``paper`` profiles, ``<workdir>/<profile>/...`` for ``smoke`` (so a test
    run never overwrites published results)."""
    if profile.name == "smoke":
        figures, results = Path(workdir) / "smoke" / "figures", Path(workdir) / "smoke" / "results"
    for d in (figures, results):
        Path(d).mkdir(parents=True, exist_ok=True)
    return Path(figures), Path(results)


def save_table(table: pd.DataFrame, path: Path, by: str = "dataset") -> pd.DataFrame:
    """Write ``table`` as CSV atomically, keeping the rows of ``path`` whose ``by`` value
    ``table`` does not cover (a run split in parts, e.g. one dataset at a time, adds up instead
    of overwriting). Returns what was written."""
    path = Path(path)
    if path.exists() and by in table:
        kept = pd.read_csv(path)
        kept = kept[~kept[by].isin(table[by].unique())] if by in kept else kept.iloc[:0]
        table = pd.concat([kept, table], ignore_index=True) if len(kept) else table
    atomic_write(path, table.to_csv(index=False).encode())
    return table


@dataclass
class Setup:
    """Everything one dataset's steps need: data, trained classifier and trained defense."""

    train: ImageSet
    test: ImageSet
    classifier: Classifier
    defense: ReconstructionDefense


def prepare(dataset: str, profile: Profile, data_root: str | None = None,
            workdir: Path = Path("runs")) -> Setup:
    """Load ``dataset`` at the profile's sizes and train (or load) its classifier and defense.

    The restorer is trained on a separate draw of training images (seed + 1), as the paper
    trains the defense and the classifier each on the training set.
    """
    train = load_dataset(dataset, "train", root=data_root, n=profile.n_train, seed=profile.seed)
    test = load_dataset(dataset, "test", root=data_root, n=profile.n_test, seed=profile.seed)
    classifier = trained_classifier(profile.classifier, train, profile, workdir)
    restorer_train = load_dataset(dataset, "train", root=data_root, n=profile.restorer_n_train,
                                  seed=profile.seed + 1)
    return Setup(train, test, classifier, trained_defense(classifier, restorer_train, profile, workdir))


def transfer_archs(profile: Profile, dataset: str) -> tuple[str, ...]:
    """The classifiers of Tables 1-3 for ``dataset``: the main one, then each of the profile's
    transfer classifiers whose paper counterpart is in the paper's table for that dataset
    (MNIST: LeNet, GoogLeNet; Fashion-MNIST and CIFAR-10: GoogLeNet, ResNet-101); all of them
    for a dataset the paper does not have."""
    in_paper = set(transfer_tables().query("dataset == @dataset").network)
    return (profile.classifier, *[a for a in profile.transfer_classifiers if a != profile.classifier
                                  and (not in_paper or paper_network(a) in in_paper)])


def transfer_table(setup: Setup, profile: Profile, workdir: Path = Path("runs")) -> pd.DataFrame:
    """Tables 1-3's protocol: the defense trained once (with the main classifier) put in front
    of the other classifiers of :func:`transfer_archs`, each trained here, attacked at the paper's
    table strengths."""
    archs = transfer_archs(profile, setup.train.info.name)
    tables = [paper_protocol_table(trained_classifier(arch, setup.train, profile, workdir), setup.defense,
                                   setup.test, profile, workdir).assign(arch=arch) for arch in archs]
    return pd.concat(tables, ignore_index=True)


def comparison_levels(profile: Profile, dataset: str) -> list[list[tuple[str, float]]]:
    """Table 4's two strengths, which the paper does not state: level 0 = the table eps and a
    fifth of the profile's DeepFool/C&W iterations, level 1 = the largest eps and all of them."""
    recipe = recipe_for(dataset)
    levels = []
    for eps, share in ((recipe.table_eps, 5), (recipe.max_eps, 1)):
        levels.append([("clean", 0), ("fgsm", eps), ("bim", eps),
                       ("deepfool", max(1, profile.deepfool_steps // share)),
                       ("cw", max(1, profile.cw_steps // share))])
    return levels


class Contender(NamedTuple):
    """One row of Table 4: a classifier and the preprocessing defense in front of it (or None)."""

    classifier: Classifier
    defense: nn.Module | None


def comparison_methods(setup: Setup, profile: Profile, workdir: Path = Path("runs")
                       ) -> dict[str, Contender]:
    """Table 4's rows: no defense; adversarial training with FGSM and with BIM at the dataset's
    largest eps (Goodfellow et al. 2015; Kurakin et al. 2017); Feature Squeezing (Xu et al. 2018)
    with the bit depth of the paper's k for the dataset and a 2x2 median (their MNIST recipe);
    PixelDefend (Song et al. 2018); ComDefend (Jia et al. 2019); JPEG (Das et al. 2017, not in the
    paper's table); ours."""
    recipe = recipe_for(setup.train.info.name)
    def adversarially_trained(attack: str) -> Classifier:
        return trained_classifier(profile.classifier, setup.train, profile, workdir,
                                  (attack, recipe.max_eps))
    bits = max(1, round(math.log2(recipe.k)))
    clean_share = setup.train.head(profile.restorer_n_train)
    pixeldefend = PixelDefend(trained_pixelcnn(clean_share, profile, workdir), profile.pixeldefend_eps)
    normal = setup.classifier
    return {"Normal": Contender(normal, None),
            "Adversarial FGSM": Contender(adversarially_trained("fgsm"), None),
            "Adversarial BIM": Contender(adversarially_trained("bim"), None),
            "Feature Squeezing": Contender(normal, FeatureSqueezing(bits, 2)),
            "PixelDefend": Contender(normal, pixeldefend),
            "ComDefend": Contender(normal, trained_comdefend(clean_share, profile, workdir)),
            f"JPEG q{profile.jpeg_quality}": Contender(normal, JPEGCompression(profile.jpeg_quality)),
            "Our Method": Contender(normal, setup.defense)}


def comparison_table(setup: Setup, profile: Profile, workdir: Path = Path("runs")) -> pd.DataFrame:
    """Table 4's protocol: every method at both strengths; attacks are made on each method's
    own bare classifier (so adversarially trained models face attacks made on them)."""
    tables = []
    for method, (classifier, defense) in comparison_methods(setup, profile, workdir).items():
        for level, attacks in enumerate(comparison_levels(profile, setup.test.info.name)):
            table = evaluate(classifier, setup.test, attacks, {method: defense},
                             model_name=DISPLAY[classifier.arch], params=attack_params(profile),
                             cache_dir=Path(workdir) / "adversarial", seed=profile.seed)
            tables.append(table.assign(method=method, level=level))
    return pd.concat(tables, ignore_index=True)


def squeeze_detection_table(setup: Setup, profile: Profile, workdir: Path = Path("runs"),
                            false_positive_rate: float = 0.05, n_calibration: int = 1000) -> pd.DataFrame:
    """Feature Squeezing as a detector (Xu et al. 2018), reported apart from Table 4: the
    threshold flags ``false_positive_rate`` of ``n_calibration`` clean training images; per
    attack of Table 4's levels, the share of test images flagged and, with its 95% interval, the
    share of successful adversarial examples (those the bare classifier gets wrong) flagged. The
    clean row's share is the false-positive rate on unseen images."""
    recipe = recipe_for(setup.test.info.name)
    bits = max(1, round(math.log2(recipe.k)))
    detector = SqueezeDetector(setup.classifier, [FeatureSqueezing(bits, 1), FeatureSqueezing(8, 2)])
    detector.calibrate(setup.train.images[:n_calibration], false_positive_rate)
    rows = []
    for level, attacks in enumerate(comparison_levels(profile, setup.test.info.name)):
        for attack, strength in attacks:
            adv = adversarial_examples(setup.classifier, setup.test.images, setup.test.labels, attack,
                                       strength, attack_params(profile), Path(workdir) / "adversarial",
                                       profile.seed)
            flagged = detector(adv)
            fooled = predict(setup.classifier, adv) != setup.test.labels
            caught, n_fooled = int(flagged[fooled].sum()), int(fooled.sum())
            lo, hi = wilson_interval(caught, n_fooled) if n_fooled else (float("nan"), float("nan"))
            rows.append({"level": level, "attack": ATTACK_DISPLAY.get(attack, "clean"),
                         "strength": strength, "flagged": flagged.float().mean().item(),
                         "n": len(adv), "fooled": n_fooled,
                         "detected_of_fooled": caught / n_fooled if n_fooled else float("nan"),
                         "ci_low": lo, "ci_high": hi, "threshold": detector.threshold})
    return pd.DataFrame(rows)


def explore(setup: Setup, attack: str, strength: float, k: int, n: int = 64,
            params: AttackParams = AttackParams()) -> dict:
    """One interactive step: ``n`` test images attacked on the bare classifier, quantized to
    ``k`` levels, restored; images and the classifier's accuracy at each stage."""
    x, y = setup.test.images[:n], setup.test.labels[:n]
    adv = adversarial_examples(setup.classifier, x, y, attack, strength, params)
    quantized = quantize(adv, k)
    restored = setup.defense.restorer(quantized).detach()
    stages = {"clean": x, "adversarial": adv, "quantized": quantized, "restored": restored}
    preds = {name: predict(setup.classifier, images) for name, images in stages.items()}
    return {"images": stages, "predictions": preds,
            "accuracy": {name: (p == y).float().mean().item() for name, p in preds.items()}}
