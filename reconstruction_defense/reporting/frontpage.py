"""The README's front page, rendered from the CSVs a rerun wrote: does the paper hold? (one table
per dataset: the paper's protocol beside the paper's ResNet-50 values of Tables 1-3, then
attacks that know the defense), and the map of the notebooks with their measured wall times."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..attacks.registry import display_name
from ..data.datasets import BUILTIN, INFOS
from .paper import paper_relation, transfer_tables
from .sections import markdown, read_results

PROTOCOL_ATTACKS = ("clean", "fgsm", "bim", "deepfool", "cw")
ADAPTIVE_SETTING = "defense, adaptive attacks"
NOTEBOOKS = {  # stem: (the paper's evidence, what it shows)
    "01_pixel_depth_study": ("Figure 3", "accuracy of the bare classifier after k-level quantization"),
    "02_restorer_training": ("Figure 5", "classifiers and restorers trained; PSNR/SSIM; restored images"),
    "03_evaluation": ("Figures 6-8", "accuracy against attack strength, with and without the defense"),
    "04_transferability": ("Tables 1-3", "the defense in front of the other classifiers"),
    "05_comparison": ("Table 4", "Fashion-MNIST: the other defenses, and Table 4 under one threat model"),
    "06_adaptive_evaluation": ("beyond", "attacks that know the defense, minimal L2, sanity checks, ablation"),
    "07_adversarial_training_adaptive": ("beyond", "the restorer in front of an adversarially trained classifier"),
    "08_exact_evaluation": ("beyond", "exact robust accuracy at small ε beside the adaptive cascade"),
}


def dataset_key(display: str) -> str:
    """``"CIFAR-10 (JPEG q75 copy)"`` -> ``"cifar10"``: the built-in dataset a table row names."""
    for key in BUILTIN:
        if display == INFOS[key].display_name or display.startswith(INFOS[key].display_name + " ("):
            return key
    raise ValueError(f"{display!r} names none of the built-in datasets {', '.join(BUILTIN)}")


def _cell(r: pd.Series) -> str:
    return f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]"


def protocol_rows(strength: pd.DataFrame, dataset: str) -> list[dict]:
    """The paper's protocol (attacks made on the bare classifier) at the paper's ε and 50
    iterations: our defended and bare accuracy beside the paper's defended ResNet-50 value."""
    paper = transfer_tables()
    paper = paper[(paper.dataset == dataset_key(dataset)) & (paper.network == "resnet50") & paper.defended]
    eps = paper.eps.iloc[0]
    rows = []
    for attack in PROTOCOL_ATTACKS:
        budget = {"clean": 0.0, "fgsm": eps, "bim": eps}.get(attack, 50.0)
        mine = strength[(strength.dataset == dataset) & (strength.attack == attack) & (strength.strength == budget)]
        ours, bare = (mine[mine.defense == d].iloc[0] for d in ("defense", "none"))
        value = paper[paper.attack == attack].accuracy.iloc[0]
        label = "-" if attack == "clean" else f"ε = {eps:g}" if budget == eps else "50 iterations"
        rows.append(
            {
                "attack": "clean" if attack == "clean" else f"{display_name(attack)}, paper's protocol",
                "budget": label,
                "paper (ResNet-50)": f"{value:.0%}",
                "ours, defended": _cell(ours),
                "ours, no defense": _cell(bare),
                "paper vs our interval": paper_relation(value, ours.ci_low, ours.ci_high),
                "model": ours.model,
            }
        )
    return rows


def adaptive_rows(verdict: pd.DataFrame, dataset: str) -> list[dict]:
    """The adaptive cascade's worst case per budget (notebook 06): what an attacker who knows the
    defense leaves; the paper did not test it."""
    mine = verdict[verdict.dataset == dataset]
    rows = []
    for budget, grp in mine.groupby("budget", sort=False):
        ours, bare = (grp[grp.setting == s].iloc[0] for s in (ADAPTIVE_SETTING, "no defense"))
        rows.append(
            {
                "attack": "adaptive cascade, worst case",
                "budget": budget,
                "paper (ResNet-50)": "not tested",
                "ours, defended": ours.accuracy,
                "ours, no defense": bare.accuracy,
                "paper vs our interval": "-",
                "model": ours.model,
            }
        )
    return rows


def verdict_section(results: Path) -> str:
    """One markdown table per dataset: the paper's protocol rows (the paper's attacks made on the
    bare classifier, Tables 1-3), then the adaptive rows (an attacker who knows the defense)."""
    strength, verdict = read_results(results, "fig678_strength.csv"), read_results(results, "adaptive_verdict.csv")
    blocks = []
    for dataset in strength.dataset.unique():
        table = pd.DataFrame(protocol_rows(strength, dataset) + adaptive_rows(verdict, dataset))
        n = sorted({*strength[strength.dataset == dataset].n, *verdict[verdict.dataset == dataset].n})
        blocks.append(f"**{dataset}** ({' / '.join(f'{v:,}' for v in n)} test images)\n\n{markdown(table)}")
    return "\n\n".join(blocks)


def notebook_map_section(results: Path) -> str:
    """One line per notebook: the paper's evidence, what it shows, its latest cold and warm wall
    time under the ``cpu`` profile (``rerun_times.csv``)."""
    times = read_results(results, "rerun_times.csv")
    times = times[times.profile == "cpu"].assign(stem=lambda t: t.notebook.str.removesuffix(".ipynb"))
    minutes = {(r.stem, r.run): f"{r.seconds / 60:.1f} min" for r in times.itertuples()}
    rows = [
        {
            "notebook": f"[{stem}](notebooks/{stem}.ipynb)",
            "evidence": evidence,
            "what it shows": what,
            "cpu, cold": minutes.get((stem, "cold"), "not run"),
            "cpu, warm": minutes.get((stem, "warm"), "not run"),
        }
        for stem, (evidence, what) in NOTEBOOKS.items()
    ]
    return markdown(pd.DataFrame(rows))
