"""Evaluation: accuracy with 95% Wilson intervals as a tidy DataFrame; adversarial examples
against the bare classifier computed once per (weights, attack, strength, images) and cached."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ..attacks.registry import (
    ITERATES,
    attack_code_version,
    batch_seed,
    check_strength,
    params_used,
    run_attack,
    run_attack_iterates,
)
from ..attacks.versions import with_provenance
from ..config import distributed
from ..config.attack_params import AttackParams
from ..config.device import full_float32, model_device, on_device_of
from ..config.progress import attack_progress
from ..config.progress import bar as progress_bar
from ..data.checkpoints import model_digest, tensor_digest
from ..data.datasets import ImageSet, check_images
from ..data.outputs import atomic_write
from ..data.weights import merged_ids, weights_ids

COLUMNS = [
    "dataset",
    "model",
    "defense",
    "attack",
    "strength",
    "accuracy",
    "n",
    "ci_low",
    "ci_high",
]  # + models, attack_code


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion correct/n (Wilson 1927)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@torch.inference_mode()
def predict(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Predicted labels of ``model`` (put in eval mode) on ``images``, batches run in full
    float32 on the model's device, labels returned on the CPU."""
    model.eval()
    with full_float32(model_device(model)):
        return torch.cat(
            [
                model(*on_device_of(model, images[i : i + batch_size])).argmax(1).cpu()
                for i in range(0, len(images), batch_size)
            ]
        )


def adversarial_examples(
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack: str,
    strength: float,
    params: AttackParams = AttackParams(),
    cache_dir: Path | None = None,
    seed: int = 0,
) -> Tensor:
    """``run_attack`` against the bare classifier (the paper's protocol), cached on disk.
    Under ``torchrun`` the attack batches are shared among the ranks and gathered on every rank,
    and rank 0 alone writes the cache file: the set equals a single process's."""
    if attack == "clean":
        return images
    check_strength(attack, strength)
    file = _cache_file(classifier, images, labels, attack, strength, params, seed, cache_dir)
    adv = _cached(file)
    if adv is None:
        adv = sharded_attack(attack, classifier, images, labels, strength, params, seed)
        _store(file, adv)
    return adv


def adversarial_iterates(
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack: str,
    counts: list[int],
    params: AttackParams = AttackParams(),
    cache_dir: Path | None = None,
    seed: int = 0,
) -> dict[int, Tensor]:
    """:func:`adversarial_examples` at each iteration count of ``counts``, the ones not cached yet
    from one recorded run of the longest (:func:`~reconstruction_defense.attacks.registry.run_attack_iterates`),
    each stored under the key a run of its own would have."""
    files = {c: _cache_file(classifier, images, labels, attack, c, params, seed, cache_dir) for c in counts}
    found = {c: _cached(f) for c, f in files.items()}
    missing = [c for c, adv in found.items() if adv is None]
    if missing:
        made = sharded_iterates(attack, classifier, images, labels, missing, params, seed)
        for c, adv in zip(missing, made):
            found[c] = adv
            _store(files[c], adv)
    return found


def _cache_file(
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack: str,
    strength: float,
    params: AttackParams,
    seed: int,
    cache_dir: Path | None,
) -> Path | None:
    if cache_dir is None:
        return None
    # the weights, the module's structure and its plain settings: a wrapper with the same weights
    # (a BPDA pipeline beside the deployed one, a masked copy) or a baseline with another setting
    # (JPEG quality, squeeze bits, PixelDefend's eps) attacks another function
    key = hashlib.sha256(
        repr(
            (
                model_digest(classifier),
                repr(classifier),
                module_settings(classifier),
                attack,
                float(strength),
                sorted(params_used(attack, params).items()),
                seed,
                tensor_digest(images, labels),
                attack_code_version(attack),
            )
        ).encode()
    ).hexdigest()[:24]
    return Path(cache_dir) / f"{attack}-{strength:g}-{key}.safetensors"


def _cached(file: Path | None, name: str = "adv") -> Tensor | None:
    if file is None or not file.exists():
        return None
    try:
        return st_load(file.read_bytes())[name]
    except Exception:  # unreadable cache entry: recompute and overwrite it
        return None


def _store(file: Path | None, adv: Tensor) -> None:
    if file is not None and distributed.is_writer():
        atomic_write(file, st_save({"adv": adv.contiguous()}))
    distributed.barrier()


def module_settings(module: nn.Module) -> list[tuple[str, object]]:
    """The plain settings (numbers, strings, flags) of a module and its submodules, such as a
    quantizer's k or PixelDefend's eps_defend: what, besides weights and structure, decides
    its output."""
    return [
        (f"{name}.{key}", value)
        for name, sub in module.named_modules()
        for key, value in sorted(vars(sub).items())
        if not key.startswith("_") and key != "training" and isinstance(value, (bool, int, float, str, tuple))
    ]


def defended_inputs(defense: nn.Module, images: Tensor, cache_dir: Path | None = None) -> Tensor:
    """``defense`` applied to ``images`` (:func:`transform`), cached on disk under ``defended/``
    keyed by the defense's weights, structure and settings (:func:`module_settings`) and the
    images: a warm rerun re-scores without purifying again (PixelDefend decodes pixel by pixel)."""
    if cache_dir is None:
        return transform(defense, images)
    key = hashlib.sha256(
        repr((model_digest(defense), repr(defense), module_settings(defense), tensor_digest(images))).encode()
    ).hexdigest()[:24]
    file = Path(cache_dir) / "defended" / f"{key}.safetensors"
    cached = _cached(file, "out")
    if cached is not None:
        return cached
    out = transform(defense, images)
    if distributed.is_writer():
        atomic_write(file, st_save({"out": out.contiguous()}))
    return out


def _sharded(
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    seed: int,
    n_sets: int,
    attack_batch: Callable[[Tensor, Tensor, int], list[Tensor]],
) -> list[Tensor]:
    """``attack_batch(x, y, batch_seed)`` (``n_sets`` adversarial sets per batch), its batches dealt to
    the ranks and gathered; each seeded by its number, so the result ignores the number of ranks."""
    n_batches, part = -(-len(images) // batch_size), lambda t, b: t[b * batch_size : (b + 1) * batch_size]
    mine = {
        b: attack_batch(part(images, b), part(labels, b), batch_seed(seed, b))
        for b in distributed.my_batches(n_batches)
    }
    return [torch.cat(distributed.gather_batches({b: m[i] for b, m in mine.items()}, n_batches)) for i in range(n_sets)]


def sharded_attack(
    attack: str,
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    strength: float,
    params: AttackParams = AttackParams(),
    seed: int = 0,
) -> Tensor:
    """:func:`run_attack`, its batches shared among the ranks (one process: exactly ``run_attack``)."""
    return _sharded(
        images,
        labels,
        params.batch_size,
        seed,
        1,
        lambda x, y, s: [run_attack(attack, classifier, x, y, strength, params, s)],
    )[0]


def sharded_iterates(
    attack: str,
    classifier: nn.Module,
    images: Tensor,
    labels: Tensor,
    counts: list[int],
    params: AttackParams = AttackParams(),
    seed: int = 0,
) -> list[Tensor]:
    """:func:`~reconstruction_defense.attacks.registry.run_attack_iterates` (one set per count of ``counts``,
    from one run), its batches shared among the ranks."""
    return _sharded(
        images,
        labels,
        params.batch_size,
        seed,
        len(counts),
        lambda x, y, s: run_attack_iterates(attack, classifier, x, y, counts, params, s),
    )


def recorded_iterates(
    classifier: nn.Module,
    test: ImageSet,
    attacks: list[tuple[str, float]],
    params: AttackParams,
    cache_dir: Path | None,
    seed: int,
) -> dict[tuple[str, float], Tensor]:
    """The adversarial sets of every attack in ``attacks`` listed at several iteration counts
    whose shorter runs are prefixes of longer ones (DeepFool in Figures 6-8), made by one run."""
    out = {}
    for name in ITERATES:
        counts = sorted({int(s) for a, s in attacks if a == name})
        if len(counts) > 1:
            made = adversarial_iterates(classifier, test.images, test.labels, name, counts, params, cache_dir, seed)
            out.update({(name, c): adv for c, adv in made.items()})
    return out


def evaluate(
    classifier: nn.Module,
    test: ImageSet,
    attacks: Iterable[tuple[str, float]],
    defenses: Mapping[str, nn.Module | None] | None = None,
    *,
    model_name: str | None = None,
    params: AttackParams = AttackParams(),
    cache_dir: Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Accuracy of ``classifier`` behind each defense on clean and adversarial test images.

    ``attacks`` is a list of (name, strength); ``("clean", 0)`` scores the clean images.
    ``defenses`` maps a display name to a preprocessing module (``None`` = no defense). Every
    defense is scored on the same adversarial set, made against the bare classifier.
    Returns one row per (defense, attack, strength) with the 95% Wilson interval; ``attack``
    holds the attack's key (``"fgsm"``, ``"clean"``).
    """
    check_images(test.images, "test images")
    defenses = {"none": None} if defenses is None else dict(defenses)
    attacks = list(attacks)
    for name, strength in attacks:
        if name != "clean":
            check_strength(name, strength)
    rows, bar = [], progress_bar(attacks, shown=progress, desc="attacks")
    with attack_progress(progress):
        recorded = recorded_iterates(classifier, test, attacks, params, cache_dir, seed)
        for name, strength in bar:
            bar.set_postfix_str(f"{name} {strength:g} on {len(test)} {test.info.display_name} images", refresh=True)
            adv = recorded.get((name, strength))
            if adv is None:
                adv = adversarial_examples(
                    classifier, test.images, test.labels, name, strength, params, cache_dir, seed
                )
            for defense_name, defense in defenses.items():
                inputs = adv if defense is None else defended_inputs(defense, adv, cache_dir)
                correct = int((predict(classifier, inputs) == test.labels).sum())
                lo, hi = wilson_interval(correct, len(test))
                rows.append(
                    [
                        test.info.display_name,
                        model_name or getattr(classifier, "arch", "model"),
                        defense_name,
                        name,
                        strength,
                        correct / len(test),
                        len(test),
                        lo,
                        hi,
                        weights_ids(classifier, defense),
                    ]
                )
    return with_provenance(pd.DataFrame(rows, columns=[*COLUMNS, "models"]))


@torch.inference_mode()
def transform(defense: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """``defense`` (put in eval mode) applied to ``images`` in batches on its device; the
    result on the CPU."""
    defense.eval()
    with full_float32(model_device(defense)):
        return torch.cat(
            [
                defense(*on_device_of(defense, images[i : i + batch_size])).cpu()
                for i in range(0, len(images), batch_size)
            ]
        )


def psnr(restored: Tensor, clean: Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], over the whole batch."""
    mse = (restored - clean).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def ssim(restored: Tensor, clean: Tensor, window: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) with a uniform ``window`` x ``window`` filter
    per channel, constants for data range 1, averaged over images, channels and positions."""
    c1, c2 = 0.01**2, 0.03**2

    def mean(t: Tensor) -> Tensor:
        return torch.nn.functional.avg_pool2d(t, window, 1)

    mu_x, mu_y = mean(restored), mean(clean)
    var_x, var_y = mean(restored * restored) - mu_x**2, mean(clean * clean) - mu_y**2
    cov = mean(restored * clean) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean().item()


def spread_of(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """A seed spread: per group of ``by`` in ``table`` (one run per seed, concatenated), the mean,
    lowest and highest ``accuracy`` and the number of seeds, with the provenance of every run
    (each seed's models; the attack code, the same in all)."""
    return (
        table.groupby(by, sort=False)
        .agg(
            mean=("accuracy", "mean"),
            low=("accuracy", "min"),
            high=("accuracy", "max"),
            seeds=("accuracy", "count"),
            models=("models", merged_ids),
            attack_code=("attack_code", "first"),
        )
        .reset_index()
    )
