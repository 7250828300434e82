"""The GPU path, measured on a real GPU: does every attack give the CPU's answer there, does
training with bf16 autocast reach the CPU's accuracy, does the ``smoke`` series run end to end,
and how fast do the ``paper`` profile's own networks train and attack.

    python benchmarks/gpu_check.py --out results [--sections agree train smoke speed]

Needs a CUDA device and MNIST under ``$RECDEF_DATA``. Each section writes its rows as soon as it
ends (``gpu_<section>.csv`` in ``--out``), so a run cut short keeps what it finished.

* ``agree``: a LeNet trained on the CPU, copied to the GPU; every attack of the registry on the
  same 500 MNIST test images on both devices (same seed): accuracy under attack on each, share of
  identical predictions, largest pixel difference. Attacks run in full float32 on both, so they
  should agree up to the order of floating-point sums.
* ``train``: the same LeNet recipe trained on the GPU (bf16 autocast, channels-last) and on the
  CPU; clean accuracy of both on 2,000 test images.
* ``smoke``: ``precompute --profile smoke --device cuda --datasets mnist``, timed.
* ``speed``: images per second of the real code paths (``train.fit`` with the classifier and
  restorer objectives, ``run_attack`` BIM on the classifier and through the BPDA pipeline) for
  the paper profile's ResNet-50 and 16 x 64 restorer at 28 x 28 and 32 x 32, and the FLOP rate
  that implies (FLOPs counted as in ``gpu_estimate.py``), which ``gpu_estimate.py --train-tflops
  --attack-tflops`` then turns into hours for the whole paper series.

Backs: docs/scale-out.md, "What is measured and what is not" (results/gpu_*.csv).
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gpu_estimate import flops_per_image  # noqa: E402

from reconstruction_defense.attacks.registry import ATTACKS, AttackParams, run_attack  # noqa: E402
from reconstruction_defense.attacks.versions import with_provenance
from reconstruction_defense.config.profiles import get_profile  # noqa: E402
from reconstruction_defense.data.datasets import INFOS, ImageSet, load_dataset  # noqa: E402
from reconstruction_defense.data.weights import candidate_id  # noqa: E402
from reconstruction_defense.evaluation.adaptive import bpda_pipeline  # noqa: E402
from reconstruction_defense.evaluation.scoring import predict  # noqa: E402
from reconstruction_defense.method import Restorer, build_classifier  # noqa: E402
from reconstruction_defense.method.defense import ReconstructionDefense  # noqa: E402
from reconstruction_defense.training.loops import classifier_epoch, fit, restorer_epoch  # noqa: E402

STRENGTH = {
    "fgsm": 0.15,
    "bim": 0.15,
    "pgd": 0.15,
    "apgd_ce": 0.15,
    "apgd_dlr": 0.15,
    "square": 0.15,
    "flip": 0.15,
    "deepfool": 50,
    "cw": 50,
    "ddn": 250,
    "deepfool_ta": 50,
    "cw_ta": 50,
}


def lenet(train: ImageSet, device: str) -> torch.nn.Module:
    """The smoke recipe's LeNet, 2 epochs, trained on ``device``."""
    torch.manual_seed(0)
    model = build_classifier("lenet", train.info).to(device)
    fit(model, classifier_epoch(train, 64, 0), 2, 3e-3, {})
    return model


def agree(train: ImageSet, test: ImageSet, device: str, n: int) -> list[dict]:
    cpu_model = lenet(train, "cpu")
    gpu_model = copy.deepcopy(cpu_model).to(device)
    quantizing = {
        where: bpda_pipeline(ReconstructionDefense(torch.nn.Identity(), 2), m)  # for the flip search
        for where, m in (("cpu", cpu_model), (device, gpu_model))
    }
    x, y, rows = test.images[:n], test.labels[:n], []
    for name in (a for a in ATTACKS if not a.endswith("_ta")):  # the torchattacks oracles are CPU-bound
        times, sets = {}, {}
        for where, model in (("cpu", cpu_model), (device, gpu_model)):
            model = quantizing[where] if name == "flip" else model
            start = time.perf_counter()
            sets[where] = run_attack(name, model, x, y, STRENGTH[name], AttackParams(), seed=0)
            times[where] = time.perf_counter() - start
        scorer = quantizing["cpu"] if name == "flip" else cpu_model
        pred_cpu, pred_gpu = predict(scorer, sets["cpu"]), predict(scorer, sets[device])
        rows.append(
            {
                "attack": name,
                "strength": STRENGTH[name],
                "n": len(x),
                "acc_cpu": (pred_cpu == y).float().mean().item(),
                "acc_gpu": (pred_gpu == y).float().mean().item(),
                "same_prediction": (pred_cpu == pred_gpu).float().mean().item(),
                "max_pixel_diff": (sets["cpu"] - sets[device]).abs().max().item(),
                "s_cpu": times["cpu"],
                "s_gpu": times[device],
                "models": candidate_id(cpu_model),
            }
        )
        print(rows[-1], flush=True)
    return rows


def train_both(train: ImageSet, test: ImageSet, device: str) -> list[dict]:
    rows = []
    for where in ("cpu", device):
        start = time.perf_counter()
        model = lenet(train, where)
        seconds = time.perf_counter() - start
        acc = (predict(model, test.images[:2000]) == test.labels[:2000]).float().mean().item()
        rows.append(
            {"device": where, "clean_acc": acc, "n_test": 2000, "train_s": seconds, "models": candidate_id(model)}
        )
        print(rows[-1], flush=True)
    return rows


def smoke(root: str, out: Path) -> list[dict]:
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconstruction_defense.cli.precompute",
            "--profile",
            "smoke",
            "--device",
            "cuda",
            "--datasets",
            "mnist",
            "--data-root",
            root,
            "--workdir",
            str(out / "smoke_runs"),
        ],
        check=False,
    )
    return [{"what": "precompute smoke mnist", "returncode": done.returncode, "seconds": time.perf_counter() - start}]


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _rate(run, n: int) -> float:
    """Images per second of ``run()`` over ``n`` images: one untimed warm-up, then one timed."""
    run()
    _sync()
    start = time.perf_counter()
    run()
    _sync()
    return n / (time.perf_counter() - start)


def speed(device: str, n: int) -> list[dict]:
    p, rows = get_profile("paper", device="cpu"), []
    for dataset in ("mnist", "cifar10"):
        info = INFOS[dataset]
        shape = (info.channels, *info.size)
        data = ImageSet(torch.rand(n, *shape), torch.randint(0, 10, (n,)), info, torch.arange(n), "train")
        cls = build_classifier(p.classifier.arch, info).to(device)
        res = Restorer(info.channels, p.restorer.n_blocks, p.restorer.n_feats, p.restorer.res_scale).to(device)
        pipe = bpda_pipeline(ReconstructionDefense(res, 2), cls).to(device)
        f_cls, f_res = (
            flops_per_image(build_classifier(p.classifier.arch, info), shape),
            flops_per_image(Restorer(info.channels, p.restorer.n_blocks, p.restorer.n_feats), shape),
        )
        x, y, bim = data.images[: n // 2], data.labels[: n // 2], AttackParams(bim_steps=10, batch_size=500)
        jobs = [
            (
                "train classifier (fit, bf16)",
                "bf16",
                f_cls,
                lambda: fit(cls, classifier_epoch(data, p.classifier.batch_size, 0), 1, 1e-3, {}),
                n,
            ),
            (
                "train restorer (fit, bf16, 0.5 FGSM)",
                "bf16",
                f_res + 0.5 * f_cls,
                lambda: fit(res, restorer_epoch(data, cls, 2, 0.15, 0.5, p.restorer.batch_size, 0), 1, 1e-4, {}),
                n,
            ),
            (
                "BIM-10 on the classifier (fp32)",
                "fp32",
                10 * f_cls,
                lambda: run_attack("bim", cls, x, y, 0.15, bim),
                len(x),
            ),
            (
                "BIM-10 through BPDA pipeline (fp32)",
                "fp32",
                10 * (f_cls + f_res),
                lambda: run_attack("bim", pipe, x, y, 0.15, bim),
                len(x),
            ),
        ]
        for what, precision, flops, run, count in jobs:
            rate = _rate(run, count)
            rows.append(
                {
                    "dataset": info.display_name,
                    "work": what,
                    "precision": precision,
                    "images_per_s": rate,
                    "tflops": rate * flops / 1e12,
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sections", nargs="+", default=["agree", "speed", "train", "smoke"])
    parser.add_argument("--n-agree", type=int, default=500, help="test images per attack in 'agree'")
    parser.add_argument("--n-speed", type=int, default=4096, help="training images per timed epoch in 'speed'")
    args = parser.parse_args()
    root = os.environ.get("RECDEF_DATA", "data")
    args.out.mkdir(parents=True, exist_ok=True)
    print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA", flush=True)
    train = load_dataset("mnist", "train", root=root, n=5000, seed=0, download=False)
    test = load_dataset("mnist", "test", root=root, download=False)
    sections = {
        "agree": lambda: agree(train, test, args.device, args.n_agree),
        "train": lambda: train_both(train, test, args.device),
        "smoke": lambda: smoke(root, args.out),
        "speed": lambda: speed(args.device, args.n_speed),
    }
    for name in args.sections:
        try:
            table = pd.DataFrame(sections[name]())
            table = with_provenance(table) if "attack" in table else table
            table.to_csv(args.out / f"gpu_{name}.csv", index=False)
        except Exception as err:  # keep the other sections' measurements
            print(f"section {name} failed: {type(err).__name__}: {err}", flush=True)


if __name__ == "__main__":
    main()
