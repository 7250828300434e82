"""One frozen, nested config object per profile: ``smoke`` (CI), ``cpu`` (what we run and publish),
``paper`` (the paper's architectures and sizes).

The per-dataset recipe (k, attack budgets) follows Section "Experiment" of Zhang, Xu, Pei, Yang,
"Adversarial example defense based on image reconstruction": k = 2 on MNIST, k = 4 on
Fashion-MNIST; FGSM budgets up to 0.3 (MNIST), 0.1 (F-MNIST), 0.01 (CIFAR-10); the tables use
eps = 0.15, 0.05 and 0.005. The paper gives no k for CIFAR-10; 8 is our choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from .attack_params import AttackParams
from .device import resolve_device
from .overrides import apply_overrides, nested_overrides


@dataclass(frozen=True)
class DatasetRecipe:
    """What the paper fixes per dataset: quantization levels and attack budgets."""

    k: int
    max_eps: float  # largest FGSM eps; the restorer is trained on FGSM at this budget
    table_eps: float  # the eps of Tables 1-3
    field_eps: float  # the Linf budget the robustness literature reports (adaptive evaluation)
    l2_radii: tuple[float, ...]  # L2 budgets at which C&W-L2 robust accuracy is read off


RECIPES: dict[str, DatasetRecipe] = {
    "mnist": DatasetRecipe(k=2, max_eps=0.3, table_eps=0.15, field_eps=0.3, l2_radii=(1.0, 2.0, 3.0)),
    "fashion_mnist": DatasetRecipe(k=4, max_eps=0.1, table_eps=0.05, field_eps=0.2, l2_radii=(0.5, 1.0, 2.0)),
    "cifar10": DatasetRecipe(k=8, max_eps=0.01, table_eps=0.005, field_eps=8 / 255, l2_radii=(0.25, 0.5, 1.0)),
}
DEFAULT_RECIPE = DatasetRecipe(k=8, max_eps=0.03, table_eps=0.015, field_eps=8 / 255, l2_radii=(0.25, 0.5, 1.0))


def recipe_for(dataset: str) -> DatasetRecipe:
    """The paper's recipe for a dataset, or a default for image folders of one's own."""
    return RECIPES.get(dataset, DEFAULT_RECIPE)


@dataclass(frozen=True)
class DataConfig:
    """How many images each run draws (seeded): ``None`` = the whole training split."""

    n_train: int | None
    n_test: int


@dataclass(frozen=True)
class ClassifierConfig:
    """The main classifier (the paper's ResNet-50 or its stand-in) and how it is trained; the
    transfer classifiers of Tables 1-3 are trained the same way."""

    arch: str
    epochs: int
    lr: float = 1e-3  # Adam's constant rate, or the one-cycle peak
    batch_size: int = 128
    transfer: tuple[str, ...] = ()
    # the fast recipe (``training.loops.classifier_epoch``): "sgd" + "one_cycle", smoothing, augmentation
    optimizer: str = "adam"
    schedule: str = "constant"  # or "one_cycle"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False  # shifts, and flips where they fit (``training.recipe.augmentation_for``)
    dataset_epochs: tuple[tuple[str, int], ...] = ()  # (dataset, epochs) where it differs from ``epochs``

    def epochs_for(self, dataset: str) -> int:
        """How many epochs the classifiers of ``dataset`` train."""
        return dict(self.dataset_epochs).get(dataset, self.epochs)


@dataclass(frozen=True)
class AdversarialTrainingConfig:
    """Table 4's and notebook 07's adversarially trained classifiers (Goodfellow et al. 2015;
    Kurakin et al. 2017): the classifier's recipe on fewer epochs and images where it says so,
    since every step also runs the attack (a BIM epoch costs 4.5 clean ones here,
    ``results/training_costs.csv``)."""

    epochs: int | None = None  # None: the classifier's
    n_train: int | None = None  # the first n of the classifier's training images; None: all


@dataclass(frozen=True)
class RestorerConfig:
    """EDSR-style restorer size (Lim et al. 2017) and the paper's training recipe (eq. 4): MSE on
    quantized images, ``adv_fraction`` of each batch FGSM at the dataset's largest eps."""

    epochs: int
    n_train: int | None  # drawn apart from the classifier's images (seed + 1); None = all
    n_blocks: int = 8
    n_feats: int = 64
    res_scale: float = 0.1
    lr: float = 1e-3
    batch_size: int = 128
    adv_fraction: float = 0.5
    # (dataset, {field: value}) where a dataset's restorer differs: the `cpu` knees of restorer_grid.csv,
    # chosen on the validation split
    dataset_changes: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def for_dataset(self, dataset: str) -> RestorerConfig:
        """The restorer of ``dataset``: these fields, with that dataset's ``dataset_changes``."""
        return replace(self, **dict(dict(self.dataset_changes).get(dataset, ())), dataset_changes=())


@dataclass(frozen=True)
class SeedSpreadConfig:
    """Training variance: the main classifier and its restorer trained under each of ``seeds``
    on ``datasets``, scored on the same test images and attacks with Tables 1-3's protocol and
    with notebook 06's cascade (its verdict, on ``adaptive.spread_n_test`` images)."""

    seeds: tuple[int, ...] = ()
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class SweepConfig:
    """The axes of Figures 3 and 6-8 and the iteration counts of the tables' DeepFool / C&W."""

    k_grid: tuple[int, ...] = (2, 3, 4, 6, 8, 16, 32, 256)  # Figure 3's x axis
    eps_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the dataset's max_eps
    iteration_grid: tuple[int, ...] = (1, 2, 5, 10, 20, 50)  # DeepFool / C&W, Figures 6-8
    deepfool_steps: int = 50
    cw_steps: int = 100

    def eps_grid(self, dataset: str) -> list[float]:
        """FGSM/BIM budgets of the strength sweeps: fractions of the dataset's largest eps."""
        return [round(f * recipe_for(dataset).max_eps, 6) for f in self.eps_fractions]


@dataclass(frozen=True)
class BaselineConfig:
    """Table 4's trained baselines, on ``n_train`` clean training images (a seeded draw)."""

    n_train: int | None = 10_000  # None = all
    comdefend_epochs: int = 3
    comdefend_lr: float = 1e-3
    comdefend_code_weight: float = 1e-4  # lambda of Jia et al.'s loss MSE + lambda ||code||^2
    jpeg_quality: int = 75  # Table 4's JPEG reference point (Das et al. 2017)
    pixelcnn_width: int = 16  # PixelDefend's density model (CPU-sized PixelCNN)
    pixelcnn_blocks: int = 4
    pixelcnn_epochs: int = 3
    pixelcnn_lr: float = 3e-3
    pixeldefend_eps: float = 32 / 255  # Song et al.'s eps_defend on Fashion-MNIST
    batch_size: int = 128
    whitebox_n_test: int = 100  # Table 4's white-box column: every row under the same cascade


@dataclass(frozen=True)
class AdaptiveConfig:
    """Notebooks 06-07: how many images the adaptive attacks see and at which budgets (the attack
    budgets themselves are the profile's :class:`AttackParams`)."""

    n_test: int = 1000
    cw_n_test: int = 1000  # C&W-L2 through BPDA (cw_steps x cw_search_steps passes per image)
    eps_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)  # of the dataset's field_eps
    square_n_test: int = 100  # the standalone Square check, at the paper's and the field's eps
    square_queries: int = 1000
    ablation_n_test: int = 200  # quantizer alone / + median filter / + restorer under the cascade
    spread_n_test: int = 200  # the verdict's seed spread (``SeedSpreadConfig``), on the first n
    # the convergence check: PGD with doubled steps and restarts may move accuracy by less
    convergence_tolerance: float = 0.01
    # each iterative attack alone against a larger budget (evaluation.checks.standalone_convergence),
    # on the first n images at the paper's and the field's eps: at most 1 image in 1,000 more broken
    standalone_n_test: int = 200
    standalone_tolerance: float = 0.001

    def eps_grid(self, dataset: str) -> list[float]:
        """The adaptive budgets: the paper's table eps and fractions of the field's standard eps."""
        recipe = recipe_for(dataset)
        return sorted({recipe.table_eps, *(round(f * recipe.field_eps, 6) for f in self.eps_fractions)})


@dataclass(frozen=True)
class ExactConfig:
    """Notebook 08's exact evaluation: per dataset the eps where enumeration is
    affordable; an image with more than ``budget`` reachable k-level images gets ``probe`` of them
    (a witness search) and is otherwise left undecided."""

    n_test: int = 1000
    budget: int = 2**12
    probe: int = 2**8
    # Fashion-MNIST, k = 4: 76 / 16 / 3 % of 1,000 test images have <= 2^12 at eps 0.005 / 0.01 / 0.02;
    # MNIST at 0.15 (the paper's eps) decides few images, but each one it decides is exact
    eps: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("mnist", (0.02, 0.05, 0.1, 0.15)),
        ("fashion_mnist", (0.005,)),
    )


@dataclass(frozen=True)
class Profile:
    """Every size, count and hyper-parameter of one run of the study, grouped by what reads it."""

    name: str
    data: DataConfig
    classifier: ClassifierConfig
    restorer: RestorerConfig
    adversarial_training: AdversarialTrainingConfig = AdversarialTrainingConfig()
    spread: SeedSpreadConfig = SeedSpreadConfig()
    sweeps: SweepConfig = SweepConfig()
    attacks: AttackParams = AttackParams()
    baselines: BaselineConfig = BaselineConfig()
    adaptive: AdaptiveConfig = AdaptiveConfig()
    exact: ExactConfig = ExactConfig()
    seed: int = 0
    device: str = "auto"  # where every model, batch and attack runs; get_profile resolves auto


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        data=DataConfig(n_train=5000, n_test=200),
        classifier=ClassifierConfig("lenet", epochs=2, lr=3e-3, batch_size=64, transfer=("lenet", "small_inception")),
        restorer=RestorerConfig(epochs=3, n_train=2000, n_blocks=2, n_feats=16, lr=3e-3, batch_size=64),
        spread=SeedSpreadConfig(seeds=(0, 1), datasets=("mnist",)),
        sweeps=SweepConfig(
            k_grid=(2, 4, 16), eps_fractions=(0.0, 0.5, 1.0), iteration_grid=(1, 10), deepfool_steps=20, cw_steps=20
        ),
        attacks=AttackParams(bim_steps=5, pgd_steps=10, apgd_steps=10, square_queries=50, cw_search_steps=3),
        baselines=BaselineConfig(
            n_train=2000,
            pixelcnn_width=8,
            pixelcnn_blocks=2,
            pixelcnn_epochs=1,
            pixelcnn_lr=1e-2,
            batch_size=64,
            whitebox_n_test=4,
        ),  # PixelDefend: 784 PixelCNN passes per query
        # 10-step PGD on 50 images only exercises the code; it is not expected to have converged
        adaptive=AdaptiveConfig(
            n_test=50,
            cw_n_test=20,
            eps_fractions=(1.0,),
            convergence_tolerance=0.1,
            square_n_test=20,
            square_queries=200,
            standalone_n_test=20,
            ablation_n_test=20,
            spread_n_test=20,
        ),
        exact=ExactConfig(n_test=30, budget=2**8, probe=2**4, eps=(("mnist", (0.05,)), ("fashion_mnist", (0.005,)))),
    ),
    "cpu": Profile(
        name="cpu",
        data=DataConfig(n_train=None, n_test=1000),
        # the fast recipe (results/standins.csv): 99.7 / 94.0 / 86.3 % clean on the full test sets
        classifier=ClassifierConfig(
            "fast_cnn",
            epochs=8,
            lr=0.2,
            batch_size=256,
            optimizer="sgd",
            schedule="one_cycle",
            weight_decay=5e-4,
            label_smoothing=0.1,
            augment=True,
            dataset_epochs=(("mnist", 3),),
            transfer=("lenet", "small_inception", "resnet32"),
        ),
        adversarial_training=AdversarialTrainingConfig(epochs=3, n_train=20_000),
        spread=SeedSpreadConfig(seeds=(0, 1, 2), datasets=("mnist", "fashion_mnist")),
        restorer=RestorerConfig(
            epochs=1,
            n_train=10000,
            n_blocks=2,
            n_feats=16,
            dataset_changes=(
                ("fashion_mnist", (("n_blocks", 4), ("n_feats", 32), ("n_train", None))),
                ("cifar10", (("n_train", None),)),
            ),
        ),
        sweeps=SweepConfig(cw_steps=50, iteration_grid=(1, 3, 10, 50)),
        attacks=AttackParams(),  # its defaults: notebook 06 in about an hour on 2 cores; doubled PGD guards them
        adaptive=AdaptiveConfig(cw_n_test=100, eps_fractions=(1.0,)),
    ),
    "paper": Profile(
        name="paper",
        data=DataConfig(n_train=None, n_test=10000),
        classifier=ClassifierConfig("resnet50", epochs=20, transfer=("lenet", "googlenet", "resnet101")),
        restorer=RestorerConfig(epochs=20, n_train=None, n_blocks=16, n_feats=64),
        spread=SeedSpreadConfig(seeds=(0, 1, 2), datasets=("mnist", "fashion_mnist", "cifar10")),
        attacks=AttackParams(pgd_steps=40, apgd_steps=100, square_queries=1000),  # Croce & Hein's budgets
        adaptive=AdaptiveConfig(square_n_test=1000, square_queries=5000, ablation_n_test=1000),  # AutoAttack's
        baselines=BaselineConfig(whitebox_n_test=1000),
    ),
}


def get_profile(name: str = "auto", **overrides: Any) -> Profile:
    """Return the named profile; ``auto`` is ``paper`` with CUDA, else ``cpu``.

    Overrides replace fields, nested or dotted: ``get_profile("smoke", seed=1, data={"n_test": 7})``
    is ``get_profile("smoke", **{"seed": 1, "data.n_test": 7})``. ``None`` values are ignored.
    The device is resolved here (``auto``: ``cuda`` when available, else ``cpu``), so asking for
    ``cuda`` on a machine without it fails at once, before any data is loaded.
    """
    if name == "auto":
        name = "paper" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(['auto', *PROFILES])}")
    profile = apply_overrides(PROFILES[name], nested_overrides(overrides))
    return replace(profile, device=resolve_device(profile.device))
