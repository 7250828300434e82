"""One frozen config object per profile: ``smoke`` (CI), ``cpu`` (what we run and publish), ``paper``.

The per-dataset recipe (k, attack budgets) follows Section "Experiment" of Zhang, Xu, Pei, Yang,
"Adversarial example defense based on image reconstruction": k = 2 on MNIST, k = 4 on
Fashion-MNIST; FGSM budgets up to 0.3 (MNIST), 0.1 (F-MNIST), 0.01 (CIFAR-10); the tables use
eps = 0.15, 0.05 and 0.005. The paper gives no k for CIFAR-10; 8 is our choice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch


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
# own image folders
DEFAULT_RECIPE = DatasetRecipe(k=8, max_eps=0.03, table_eps=0.015, field_eps=8 / 255, l2_radii=(0.25, 0.5, 1.0))


@dataclass(frozen=True)
class RestorerConfig:
    """EDSR-style restorer size (Lim et al. 2017)."""

    n_blocks: int = 8
    n_feats: int = 64
    res_scale: float = 0.1


@dataclass(frozen=True)
class Profile:
    """Every size, count and hyper-parameter of one run of the study."""

    name: str
    n_train: int | None  # None = the whole training split
    n_test: int
    classifier: str  # the main classifier (the paper's ResNet-50 or its stand-in)
    classifier_epochs: int
    restorer: RestorerConfig
    restorer_epochs: int
    restorer_n_train: int | None
    batch_size: int = 128
    lr: float = 1e-3
    adv_fraction: float = 0.5  # share of each restorer batch made adversarial (FGSM at max_eps)
    bim_steps: int = 10
    deepfool_steps: int = 50
    cw_steps: int = 100
    cw_c: float = 1.0
    cw_lr: float = 0.05
    cw_search_steps: int = 3
    k_grid: tuple[int, ...] = (2, 3, 4, 6, 8, 16, 32, 256)  # Figure 3's x axis
    eps_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the dataset's max_eps
    iteration_grid: tuple[int, ...] = (1, 2, 5, 10, 20, 50)  # DeepFool / C&W, Figures 6-8
    seed: int = 0
    device: str = "cpu"
    transfer_classifiers: tuple[str, ...] = field(default=())
    comdefend_epochs: int = 3  # Table 4 baseline, trained on restorer_n_train clean images
    comdefend_lr: float = 1e-3
    comdefend_code_weight: float = 1e-4  # lambda of Jia et al.'s loss MSE + lambda ||code||^2
    jpeg_quality: int = 75  # Table 4's JPEG reference point (Das et al. 2017)
    pixelcnn_width: int = 16  # PixelDefend's density model (CPU-sized PixelCNN)
    pixelcnn_blocks: int = 4
    pixelcnn_epochs: int = 3  # trained on restorer_n_train clean images
    pixelcnn_lr: float = 3e-3
    pixeldefend_eps: float = 32 / 255  # Song et al.'s eps_defend on Fashion-MNIST
    adaptive_n_test: int = 1000  # notebook 06
    adaptive_cw_n_test: int = 1000  # notebook 06's C&W-L2 through BPDA (150 passes per image on cpu)
    adaptive_eps_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)  # of the dataset's field_eps
    pgd_steps: int = 40
    pgd_restarts: int = 1
    apgd_steps: int = 100  # Croce & Hein's default
    square_queries: int = 1000
    # notebook 06's convergence check: PGD with doubled steps and restarts may move accuracy by less
    convergence_tolerance: float = 0.01
    # 250 beats 500 by 1.2-1.45x per attack step on 2 cores (benchmarks/hotspots.py): the
    # activations of a smaller batch stay in cache
    attack_batch_size: int = 250

    def eps_grid(self, dataset: str) -> list[float]:
        """FGSM/BIM budgets of the strength sweeps: fractions of the dataset's largest eps."""
        return [round(f * recipe_for(dataset).max_eps, 6) for f in self.eps_fractions]

    def adaptive_eps_grid(self, dataset: str) -> list[float]:
        """Notebook 06's budgets: the paper's table eps and fractions of the field's standard eps."""
        recipe = recipe_for(dataset)
        return sorted({recipe.table_eps, *(round(f * recipe.field_eps, 6) for f in self.adaptive_eps_fractions)})

    def to_dict(self) -> dict:
        """Plain-dict view, stored in checkpoint sidecars."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", n_train=5000, n_test=200, classifier="lenet", classifier_epochs=2,
        restorer=RestorerConfig(n_blocks=2, n_feats=16), restorer_epochs=3, restorer_n_train=2000,
        batch_size=64, lr=3e-3, bim_steps=5, deepfool_steps=20, cw_steps=50, cw_search_steps=2,
        k_grid=(2, 4, 16), eps_fractions=(0.0, 0.5, 1.0), iteration_grid=(1, 10),
        transfer_classifiers=("lenet", "resnet20"), pixelcnn_width=8, pixelcnn_blocks=2,
        pixelcnn_epochs=1, pixelcnn_lr=1e-2, adaptive_n_test=50, adaptive_cw_n_test=20,
        adaptive_eps_fractions=(1.0,),
        pgd_steps=10, apgd_steps=10, square_queries=100,
        # 10-step PGD on 50 images only exercises the code; it is not expected to have converged
        convergence_tolerance=0.1,
    ),
    "cpu": Profile(
        name="cpu", n_train=20000, n_test=1000, classifier="resnet20", classifier_epochs=3,
        restorer=RestorerConfig(n_blocks=4, n_feats=32), restorer_epochs=3, restorer_n_train=10000,
        cw_steps=50, iteration_grid=(1, 3, 10, 50),
        transfer_classifiers=("lenet", "small_inception", "resnet32"),
        # notebook 06 on 1,000 images x 3 datasets within about an hour and a half on 2 cores:
        # the paper's and the field's eps only, shorter attacks (the doubled-PGD check guards them)
        adaptive_eps_fractions=(1.0,), pgd_steps=20, apgd_steps=25, square_queries=200,
        adaptive_cw_n_test=100,
    ),
    "paper": Profile(
        name="paper", n_train=None, n_test=10000, classifier="resnet50", classifier_epochs=20,
        restorer=RestorerConfig(n_blocks=16, n_feats=64), restorer_epochs=20, restorer_n_train=None,
        device="cuda", transfer_classifiers=("lenet", "googlenet", "resnet101"),
    ),
}


def get_profile(name: str = "auto", **overrides) -> Profile:
    """Return the named profile; ``auto`` is ``paper`` with CUDA, else ``cpu``. Overrides replace
    fields; ``None`` overrides are ignored (so notebook parameters can default to the profile's)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if name == "auto":
        name = "paper" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(['auto', *PROFILES])}")
    profile = PROFILES[name]
    unknown = set(overrides) - set(profile.to_dict())
    if unknown:
        raise ValueError(f"unknown profile field(s) {sorted(unknown)}; valid: {sorted(profile.to_dict())}")
    return replace(profile, **overrides)


def recipe_for(dataset: str) -> DatasetRecipe:
    """The paper's recipe for a dataset, or a default for image folders of one's own."""
    return RECIPES.get(dataset, DEFAULT_RECIPE)
