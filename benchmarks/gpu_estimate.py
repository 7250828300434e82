"""An estimate, not a measurement: what the ``paper`` profile's series costs on one GPU.

    python benchmarks/gpu_estimate.py [--train-tflops 200] [--attack-tflops 17]

The series was never run on a GPU. The estimate counts work and divides it by a throughput,
assumed by default, or measured with ``benchmarks/gpu_check.py`` (on an H200: 32 TFLOP/s for
training, 25 for attacks, docs/scale-out.md):

* FLOPs per image of one forward+backward pass of each network, counted by
  ``torch.utils.flop_counter`` on the paper profile's own architectures at each dataset's size;
* passes per image from the profile: epochs x training images for every model the series trains
  (classifiers of Tables 1-3, restorers, Table 4's adversarially trained classifiers, ComDefend,
  PixelCNN), and an **upper bound** for attacks: every attack runs all its iterations on every
  image (DeepFool: one pass per class per step; C&W: steps x search steps; the adaptive cascade
  through quantizer + restorer + classifier on all images at every eps, Square's queries counted
  as forward passes, about a third of a forward+backward);
* the default throughput, assumed: training in bf16 at about 20 % of the H100's dense bf16
  peak (989 TFLOP/s), attacks and scoring in full float32 at about 25 % of its float32 peak
  (67 TFLOP/s). Small 28 x 28 and 32 x 32 images use a GPU poorly, so either could be off by 2-3x.

Backs: docs/scale-out.md, "Cost of the whole paper series - an estimate from measured rates".
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from reconstruction_defense.config.profiles import RECIPES, get_profile
from reconstruction_defense.data.datasets import INFOS
from reconstruction_defense.experiments.transfer import transfer_archs
from reconstruction_defense.method import Restorer, build_classifier
from reconstruction_defense.method.baselines import ComDefend, PixelCNN

TRAIN_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000}


def flops_per_image(model: torch.nn.Module, shape: tuple[int, ...], backward: bool = True) -> float:
    """FLOPs of one forward (and backward) pass per image, counted on a batch of 2 (a PixelCNN's
    forward: its logits)."""
    x = torch.rand(2, *shape)
    with FlopCounterMode(display=False) as counter:
        out = model.logits(x) if isinstance(model, PixelCNN) else model(x)
        if backward:
            out.float().sum().backward()
    return counter.get_total_flops() / 2


def dataset_work(dataset: str) -> list[dict]:
    """(what, precision, FLOPs) for one dataset's share of the series under the paper profile."""
    p, info = get_profile("paper", device="cpu"), INFOS[dataset]
    shape, classes, n_test, n_train = (
        (info.channels, *info.size),
        len(info.classes),
        p.data.n_test,
        TRAIN_IMAGES[dataset],
    )
    cfg, a = p.restorer.for_dataset(dataset), p.attacks
    fb = {arch: flops_per_image(build_classifier(arch, info), shape) for arch in transfer_archs(p, dataset)}
    main = fb[p.classifier.arch]
    restorer = flops_per_image(Restorer(info.channels, cfg.n_blocks, cfg.n_feats, cfg.res_scale), shape)
    protocol = 1 + a.bim_steps + p.sweeps.deepfool_steps * classes + p.sweeps.cw_steps * a.cw_search_steps
    sweep_passes = sum(1 + a.bim_steps for e in p.sweeps.eps_grid(dataset) if e > 0) + sum(p.sweeps.iteration_grid) * (
        classes + a.cw_search_steps
    )
    n_eps = len(p.adaptive.eps_grid(dataset))
    cascade = a.bim_steps + a.pgd_steps * a.pgd_restarts + 2 * a.apgd_steps + a.square_queries / 3 + 4 * a.pgd_steps
    rows = [
        ("train classifiers (Tables 1-3)", "bf16", p.classifier.epochs * n_train * sum(fb.values())),
        ("train restorer", "bf16", cfg.epochs * n_train * (restorer + cfg.adv_fraction * main)),
        ("attacks, Tables 1-3 (every classifier)", "fp32", n_test * protocol * sum(fb.values())),
        ("attacks, Figures 6-8 sweep", "fp32", n_test * sweep_passes * main),
        (
            "adaptive cascade + doubled PGD (notebook 06)",
            "fp32",
            p.adaptive.n_test * n_eps * cascade * (main + restorer),
        ),
        (
            "C&W-L2 through BPDA (notebook 06)",
            "fp32",
            p.adaptive.cw_n_test * p.sweeps.cw_steps * a.cw_search_steps * (2 * main + restorer),
        ),
    ]
    if dataset == "fashion_mnist":  # Table 4 and notebook 07
        b = p.baselines
        pixelcnn_fwd = flops_per_image(PixelCNN(info.channels, b.pixelcnn_width, b.pixelcnn_blocks), shape, False)
        rows += [
            (
                "train adversarial FGSM / BIM classifiers",
                "bf16",
                p.classifier.epochs * n_train * main * (2 + 0.5 * (1 + a.bim_steps)),
            ),
            (
                "train ComDefend and PixelCNN",
                "bf16",
                n_train
                * (
                    b.comdefend_epochs * flops_per_image(ComDefend(info.channels), shape)
                    + b.pixelcnn_epochs * 3 * pixelcnn_fwd
                ),
            ),
            ("attacks on Table 4's classifiers", "fp32", n_test * 2 * 2 * protocol * main),
            (
                "PixelDefend purification (10 sets, one pass per pixel)",
                "fp32",
                10 * n_test * info.channels * info.size[0] * info.size[1] * pixelcnn_fwd,
            ),
            (
                "adaptive cascade, adv. trained (notebook 07)",
                "fp32",
                p.adaptive.n_test * n_eps * cascade * (main + restorer),
            ),
        ]
    return [{"dataset": info.display_name, "work": w, "precision": prec, "pflop": f / 1e15} for w, prec, f in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-tflops", type=float, default=200.0, help="assumed bf16 training throughput")
    parser.add_argument("--attack-tflops", type=float, default=17.0, help="assumed float32 throughput")
    args = parser.parse_args()
    table = pd.DataFrame([row for d in RECIPES for row in dataset_work(d)])
    rate = table.precision.map({"bf16": args.train_tflops, "fp32": args.attack_tflops})
    table["hours"] = table.pflop * 1e3 / rate / 3600
    pd.set_option("display.width", 160)
    print(table.round({"pflop": 1, "hours": 2}).to_string(index=False))
    by = table.groupby("precision").hours.sum()
    print(
        f"\nestimated total on one H100: {table.hours.sum():.1f} h (training {by.get('bf16', 0):.1f} h, "
        f"attacks {by.get('fp32', 0):.1f} h; upper bound for attacks)"
    )


if __name__ == "__main__":
    main()
