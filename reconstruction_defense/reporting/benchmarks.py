"""The benchmarks' tables, rendered from the CSVs the scripts under ``benchmarks/`` write (each a
speed ratio against a reference measured in the same run), so that a page never quotes a number
that the committed CSV does not hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..method.classifiers import DISPLAY
from .sections import markdown, read_results

DISPLAY_ATTACK = {"deepfool": "DeepFool", "cw": "C&W-L2"}


def _blank_repeats(column: pd.Series) -> list[str]:
    """A column's cells with each run of equal values shown once (the table's grouping)."""
    shown = column.astype(str)
    return ["" if i and shown.iloc[i] == shown.iloc[i - 1] else v for i, v in enumerate(shown)]


def _ratio(value: float) -> str:
    return f"{value:.2f}×"


def attack_speed_section(results: Path) -> str:
    """Ours against torchattacks 3.5.1 (``benchmark_attacks.csv``, ``benchmarks/attacks.py``):
    images/s (median of the timed repeats), the ratio to torchattacks on the same images, success
    rate and median L2 over the images the classifier got right."""
    table = read_results(results, "benchmark_attacks.csv")
    data = [f"{d}, {n:,} test images, {DISPLAY[m]}" for d, n, m in table[["dataset", "n", "model"]].values]
    shown = pd.DataFrame(
        {
            "data, classifier": _blank_repeats(pd.Series(data)),
            "attack": _blank_repeats(
                pd.Series([f"{DISPLAY_ATTACK[a]}, {i} it." for a, i in zip(table.attack, table.iterations)])
            ),
            "implementation": table.implementation,
            "repeats": table.repeats,
            "images/s": table.images_per_s.map("{:.1f}".format),
            "ratio to torchattacks": table.speedup.map(_ratio),
            "success": table.success_rate.map("{:.1%}".format),
            "median L2": table.median_l2.map("{:.3f}".format),
        }
    )
    return markdown(shown)


def hotspots_section(results: Path) -> str:
    """Each building block's seconds per 1,000 images under the default settings, and each
    candidate setting as a ratio to it (``benchmark_hotspots.csv``, ``benchmarks/hotspots.py``)."""
    table = read_results(results, "benchmark_hotspots.csv")
    keys = ["dataset", "step"]
    default = table[table.variant == "default"].set_index(keys)
    ratios = table[table.variant != "default"].pivot_table(index=keys, columns="variant", values="ratio", sort=False)
    shown = pd.DataFrame({"default: s per 1,000 images": default.s_per_1000_images.map("{:.2f}".format)})
    for variant in ratios.columns:
        shown[variant] = ratios[variant].reindex(shown.index).map(lambda r: "-" if pd.isna(r) else _ratio(r))
    return markdown(shown.reset_index())


def pipeline_section(results: Path) -> str:
    """Defense overhead, the attack cache and scaling with the test-set size, each ratio against
    the first row of its block (``benchmark_pipeline.csv``, ``benchmarks/pipeline.py``)."""
    table = read_results(results, "benchmark_pipeline.csv")
    shown = pd.DataFrame(
        {
            "what": _blank_repeats(table.benchmark),
            "data": _blank_repeats(table.dataset),
            "variant": table.variant,
            "images": table.n.map("{:,}".format),
            "seconds": table.seconds.map("{:.2f}".format),
            "ms / image": table.ms_per_image.map("{:.2f}".format),
            "ratio": table.ratio.map(_ratio),
        }
    )
    return markdown(shown)


def distributed_section(results: Path) -> str:
    """One rank with every thread against one rank per core: the median seconds of each phase
    (``benchmark_distributed.csv``, ``benchmarks/distributed.py``)."""
    table = read_results(results, "benchmark_distributed.csv")
    shown = pd.DataFrame(
        {
            "setup": table.setup,
            "images": table.images,
            "repeats": table.repeats,
            **{f"{p} s": table[f"{p}_s"].map("{:.3f}".format) for p in ("attack", "gather", "write", "total")},
            "ratio to 1 rank": table.vs_1_rank.map(_ratio),
            "gather + write share": table.gather_write_share.map("{:.1%}".format),
        }
    )
    return markdown(shown)


def exact_speed_section(results: Path) -> str:
    """Exact search beside one BPDA-PGD run of 100 steps on the same images and device
    (``exact_speed.csv``, ``benchmarks/exact_speed.py``)."""
    table = read_results(results, "exact_speed.csv")
    shown = pd.DataFrame(
        {
            "data": table.dataset,
            "eps": table.eps,
            "images": table.images.map("{:,}".format),
            "budget / probe": [f"{b:,} / {p:,}" for b, p in zip(table.budget, table.probe)],
            "robust / broken / undecided": [
                f"{r} / {b} / {u}" for r, b, u in zip(table.robust, table.broken, table.undecided)
            ],
            "quantized images evaluated": table.evaluated.map("{:,}".format),
            "exact s": table.exact_seconds.map("{:.1f}".format),
            "PGD-100 s": table.pgd100_seconds.map("{:.1f}".format),
            "PGD-100 robust": table.pgd100_robust,
            "ratio exact / PGD": table.exact_over_pgd100.map(_ratio),
            "device": table.device,
        }
    )
    return markdown(shown)


def _accuracy_ci(accuracy: float, low: float, high: float) -> str:
    return "-" if pd.isna(accuracy) else f"{accuracy:.2%} [{low:.2%}, {high:.2%}]"


def standins_section(results: Path) -> str:
    """The stand-in classifiers' recipes as measured (``standins.csv``, ``benchmarks/standins.py``):
    per row the network, epochs and training images, the training time on this project's 2-core
    CPU (none when the script found the shipped model), accuracy on the validation split where
    measured and on the 10,000 test images with 95 % Wilson intervals, and the model it scored:
    a candidate digest (``data.weights.candidate_id``), or none recorded (an older row)."""
    table = read_results(results, "standins.csv")
    models = table.models.fillna("") if "models" in table else pd.Series("", table.index)
    shown = pd.DataFrame(
        {
            "dataset": table.dataset,
            "network": table.arch.map(DISPLAY),
            "training": [
                f"{e} epochs on {n:,} images" + (", flips" if f else "") + f", shifts ±{s} px"
                for e, n, f, s in table[["epochs", "n_train", "flip", "max_shift"]].values
            ],
            "minutes": [("shipped, loaded" if s == 0 else f"{s / 60:.1f}") for s in table.train_seconds],
            "validation [95 %]": [
                _accuracy_ci(*v) for v in table.reindex(columns=["val_accuracy", "val_ci_low", "val_ci_high"]).values
            ],
            "test, 10,000 images [95 %]": [_accuracy_ci(*v) for v in table[["accuracy", "ci_low", "ci_high"]].values],
            "model": [f"`{m}`" if m else "not recorded" for m in models],
        }
    )
    return markdown(shown)


def training_costs_section(results: Path) -> str:
    """Seconds per training epoch over a full training split of each model of the ``cpu`` series,
    and its ratio to the main classifier's clean epoch on the same dataset in the same run
    (``training_costs.csv``, ``benchmarks/training_costs.py``)."""
    table = read_results(results, "training_costs.csv")
    shown = pd.DataFrame(
        {
            "dataset": _blank_repeats(table.dataset),
            "model": [DISPLAY.get(m, m) for m in table.model],
            "training": table.training,
            "images": table.train_images.map("{:,}".format),
            "s / epoch": table.epoch_s.map("{:.1f}".format),
            "ratio": table.ratio_to_main_clean.map(_ratio),
        }
    )
    return markdown(shown)
