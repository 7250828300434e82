"""The result tables, one renderer per section, each reading the CSVs a rerun wrote
(:mod:`.pages` puts them between the markers of the README and the docs pages)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..attacks.registry import display_name
from ..data.outputs import cache_state
from .paper import beside_paper


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (no index), without its provenance columns
    (``attack_code`` and ``models``, read by :mod:`.provenance`, not by readers)."""
    table = table.drop(columns=["attack_code", "models"], errors="ignore")
    cells = [list(map(str, table.columns))] + table.astype(str).values.tolist()
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + " --- |" * len(table.columns))
    return "\n".join(lines)


class IncompleteResults(ValueError):
    """A results CSV that exists but lacks the rows a section must show (made by older code)."""


def read_results(results: Path, name: str) -> pd.DataFrame:
    """The CSV ``name`` under ``results``; a missing file names the command that writes it."""
    file = results / name
    if not file.exists():
        raise FileNotFoundError(
            f"{file} is missing: run `recdef rerun --profile cpu` first (it writes every CSV under {results}/)"
        )
    return pd.read_csv(file)


def _cache_note(new_files: float) -> str:
    if pd.isna(new_files) or new_files < 0:
        return "not recorded"
    return "all cached" if new_files == 0 else f"made {int(new_files)} checkpoints / attack sets"


def timing_section(results: Path) -> str:
    """Wall time, kernel peak memory and cache state of each notebook's latest cold and warm run,
    from ``rerun_times.csv``, with the total of each kind."""
    times = read_results(results, "rerun_times.csv")
    peak = times.get("peak_mib", pd.Series(float("nan"), index=times.index))
    made = times.get("new_cache_files", pd.Series(float("nan"), index=times.index))
    run = times["run"] if "run" in times else pd.Series([cache_state(n) for n in made], index=times.index)
    times = times.assign(
        run=run,
        minutes=(times.seconds / 60).round(1),
        peak=[f"{m:.0f}" if pd.notna(m) else "not recorded" for m in peak],
        cache=[_cache_note(n) for n in made],
    )
    table = times.rename(columns={"peak": "kernel peak MiB"})[
        ["notebook", "profile", "run", "minutes", "kernel peak MiB", "cache"]
    ]
    totals = ", ".join(
        f"{kind} runs **{grp.seconds.sum() / 60:.0f} min** ({len(grp)} notebook{'s' if len(grp) > 1 else ''})"
        for kind, grp in times.groupby("run", sort=False)
    )
    return f"{markdown(table)}\n\nTotal notebook execution: {totals}.{_against_targets(times)}"


NOTEBOOK_TARGET_MIN, SERIES_TARGET_MIN = 30, 90  # issue 35: a cold `cpu` series on 2 cores


def _against_targets(times: pd.DataFrame) -> str:
    """The cold ``cpu`` series against its targets (each notebook, its parts summed, and the
    whole series), and the notebooks over theirs: where the time goes first."""
    cold = times[(times.run == "cold") & (times.profile == "cpu")]
    if cold.empty:
        return ""
    minutes = cold.groupby(cold.notebook.str.split().str[0], sort=False).seconds.sum().div(60).sort_index()
    over = minutes[minutes > NOTEBOOK_TARGET_MIN].sort_values(ascending=False)
    listed = ", ".join(f"{name.split('_')[0]} {m:.0f} min" for name, m in over.items()) or "none"
    return (
        f" Targets for a cold `cpu` series on 2 cores: at most {NOTEBOOK_TARGET_MIN} min per notebook and "
        f"{SERIES_TARGET_MIN} min in all. The {len(minutes)} notebooks with a cold run take "
        f"**{minutes.sum():.0f} min**, {minutes.sum() / SERIES_TARGET_MIN:.1f}× the series target; "
        f"over {NOTEBOOK_TARGET_MIN} min: {listed}."
    )


def slowest_cells_section(results: Path, shown: int = 10) -> str:
    """Where the time goes: the ``shown`` slowest code cells of each notebook's latest run, from
    ``rerun_cells.csv``, with each cell's share of its notebook's time."""
    cells = read_results(results, "rerun_cells.csv")
    total = cells.groupby(["notebook", "profile"]).seconds.transform("sum")
    cells = cells.assign(minutes=(cells.seconds / 60).round(1), share=[f"{x:.0%}" for x in cells.seconds / total])
    top = cells.sort_values("seconds", ascending=False).head(shown)
    top = top.assign(source=["`" + line.strip()[:70].replace("|", "\\|") + "`" for line in top.source.fillna("")])
    return markdown(top[["notebook", "profile", "cell", "minutes", "share", "source"]])


def transfer_section(results: Path) -> str:
    """Tables 1-3: ours beside the paper's, one markdown table per dataset, with where the paper's
    value lies against our interval (in CSVs that have it)."""
    side = read_results(results, "tables123_side_by_side.csv")
    columns = [
        c
        for c in [
            "model",
            "attack",
            "strength",
            "ours no defense",
            "seeds no defense",
            "paper no defense",
            "paper vs ours no defense",
            "ours defense",
            "seeds defense",
            "paper defense",
            "paper vs ours defense",
        ]
        if c in side
    ]
    parts = []
    for dataset, grp in side.groupby("dataset", sort=False):
        parts.append(f"**{dataset}**\n\n" + markdown(grp[columns]))
    return "\n\n".join(parts)


def comparison_section(results: Path) -> str:
    """Table 4 at each strength level: one row per method, 'ours [95% CI] / paper' per attack."""
    side = read_results(results, "table4_side_by_side.csv")
    relation = (
        (" (" + side["paper vs ours"] + ")").where(side["paper vs ours"] != "-", "") if "paper vs ours" in side else ""
    )
    side = side.assign(cell=side.ours + " / " + side.paper + relation)
    parts = []
    for level, grp in side.groupby("level"):
        wide = grp.pivot(index="method", columns="attack", values="cell").reindex(
            index=grp.method.unique(), columns=grp.attack.unique()
        )
        strengths = ", ".join(
            f"{a} {s}" for a, s in grp[["attack", "strength"]].drop_duplicates().itertuples(index=False) if s != "-"
        )
        parts.append(f"Level {level} ({strengths}):\n\n" + markdown(wide.reset_index()))
    return "\n\n".join(parts)


def whitebox_section(results: Path) -> str:
    """Table 4's white-box column: every row under the same adaptive cascade through its pipeline."""
    table = read_results(results, "table4_whitebox.csv")
    cells = table.assign(
        column=[f"eps {e:g}" for e in table.eps],
        cell=[f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]" for r in table.itertuples()],
    )
    wide = cells.pivot_table(
        index=["method", "implementation", "n"], columns="column", values="cell", aggfunc="first", sort=False
    )
    return markdown(wide.reset_index())


def detection_section(results: Path) -> str:
    """Feature Squeezing's detector: share flagged, and of fooling examples the share caught."""
    det = read_results(results, "table4_squeeze_detection.csv")
    det = det.assign(
        attack=det.attack.map(display_name),
        flagged=det.flagged.map("{:.1%}".format),
        caught=[
            f"{d:.1%} [{lo:.1%}, {hi:.1%}] of {f}" if f else "-"
            for d, lo, hi, f in det[["detected_of_fooled", "ci_low", "ci_high", "fooled"]].itertuples(index=False)
        ],
    )
    return markdown(det[["level", "attack", "strength", "n", "flagged", "caught"]])


def quality_section(results: Path) -> str:
    """PSNR/SSIM of quantized and restored clean test images (notebook 02)."""
    return markdown(read_results(results, "restorer_quality.csv").round(3))


def _verdict_markdown(verdict: pd.DataFrame) -> str:
    settings = list(verdict.setting.unique())  # no defense, paper's protocol, adaptive
    wide = verdict.pivot(index=["dataset", "model", "budget", "n"], columns="setting", values="accuracy")
    keys = verdict[["dataset", "model", "budget", "n"]].drop_duplicates()
    return markdown(wide.reindex(pd.MultiIndex.from_frame(keys))[settings].reset_index())


SPREAD_COLUMN = "adaptive, seed spread: mean (min-max)"


def _with_spread(verdict: pd.DataFrame, spread: pd.DataFrame) -> pd.DataFrame:
    """The verdict with one more setting: the adaptive worst case's seed spread where it was run."""
    adaptive = spread[spread.setting == "defense, adaptive attacks"]
    cells = {
        (r.dataset, r.budget): f"{r.mean:.1%} ({r.low:.1%}-{r.high:.1%}), {r.seeds} seeds, n = {r.n}"
        for r in adaptive.itertuples()
    }
    keys = verdict[["dataset", "model", "budget", "n"]].drop_duplicates()
    extra = keys.assign(
        setting=SPREAD_COLUMN, accuracy=[cells.get((d, b), "-") for d, b in zip(keys.dataset, keys.budget)]
    )
    return pd.concat([verdict, extra], ignore_index=True)


def adaptive_section(results: Path) -> str:
    """Notebook 06's verdict: accuracy [95% CI] at the paper's and the field's eps, without the
    defense, with it under the paper's protocol, and with it under adaptive attacks; beside it the
    adaptive worst case's seed spread (``adaptive_seed_spread.csv``) once a rerun wrote it."""
    verdict = read_results(results, "adaptive_verdict.csv")
    if (results / "adaptive_seed_spread.csv").exists():
        verdict = _with_spread(verdict, read_results(results, "adaptive_seed_spread.csv"))
    return _verdict_markdown(verdict)


def adversarial_training_section(results: Path) -> str:
    """Notebook 06: the restorer in front of an adversarially trained classifier."""
    return _verdict_markdown(read_results(results, "adaptive_adversarial_training_verdict.csv"))


def l2_section(results: Path) -> str:
    """Notebook 06's minimal-norm L2 attacks: accuracy at each L2 radius per threat (the per-image
    worst case over the attacks), and each attack's median L2 needed."""
    l2 = read_results(results, "adaptive_l2.csv")
    worst = l2[l2.attack == "worst case"]
    if worst.empty:  # one attack alone would overstate the accuracy at each radius
        raise IncompleteResults(
            f"{results / 'adaptive_l2.csv'} has no 'worst case' rows (attacks: {', '.join(l2.attack.unique())}): "
            "the L2 verdict is the per-image worst case over C&W-L2, DeepFool and DDN; rerun notebook 06"
        )
    cells = worst.assign(
        cell=[
            f"{a:.1%} [{lo:.1%}, {hi:.1%}]"
            for a, lo, hi in worst[["accuracy", "ci_low", "ci_high"]].itertuples(index=False)
        ]
    )
    threats = ["undefended", "paper", "adaptive"]
    wide = cells.pivot_table(
        index=["dataset", "n", "l2"], columns="threat", values="cell", aggfunc="first", sort=False
    )[threats]
    order = {d: i for i, d in enumerate(l2.dataset.unique())}
    wide = wide.reindex(sorted(wide.index, key=lambda key: (order[key[0]], key[2])))
    median = l2.assign(attack=l2.attack.map(display_name)).pivot_table(
        index=["dataset", "attack"], columns="threat", values="median_l2", aggfunc="first", sort=False
    )[threats]
    return (
        markdown(wide.reset_index()) + "\n\nMedian L2 needed to fool, over the images each model "
        "gets right when clean (inf: over half never fooled):\n\n" + markdown(median.round(2).reset_index())
    )


def ablation_section(results: Path) -> str:
    """Notebook 06's ablation: the quantizer alone, with a median filter, with the restorer, each
    clean and at the paper's (the smaller) and the field's eps, under the paper's protocol and
    the cascade."""
    table = read_results(results, "adaptive_ablation.csv")
    setting = {("paper", "bim"): "paper's protocol", ("adaptive", "worst case"): "adaptive"}
    rank = table.groupby("dataset").eps.rank(method="dense").map({1.0: "clean", 2.0: "paper's ε", 3.0: "field's ε"})
    cells = table.assign(
        column=[r if a == "clean" else f"{setting[t, a]}, {r}" for t, a, r in zip(table.threat, table.attack, rank)],
        cell=[f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]" for r in table.itertuples()],
    )
    eps = (
        table[table.eps > 0].groupby("dataset", sort=False).eps.unique().map(lambda e: " / ".join(f"{v:g}" for v in e))
    )
    wide = cells.pivot_table(
        index=["dataset", "n", "defense"], columns="column", values="cell", aggfunc="first", sort=False
    )[list(dict.fromkeys(cells.column))].reset_index()
    wide.insert(1, "ε (paper's / field's)", wide.dataset.map(eps))
    return markdown(wide)


def sanity_section(results: Path) -> str:
    """Notebook 06's sanity checks (Carlini et al. 2019), each with the numbers behind it."""
    checks = read_results(results, "adaptive_sanity_checks.csv")
    return markdown(
        checks.assign(passed=checks.passed.map({True: "yes", False: "**no**"}))[
            ["dataset", "check", "passed", "detail"]
        ]
    )


def main_command_section(results: Path) -> str:
    """The main command's MNIST table beside the paper's ResNet-50 values of Table 1."""
    return markdown(beside_paper(read_results(results, "table_mnist_cpu.csv"), "mnist", "resnet50"))


def torchattacks_section(results: Path) -> str:
    """The same cached model and defense scored under our DeepFool / C&W-L2 and torchattacks'."""
    table = read_results(results, "table_mnist_cpu_torchattacks.csv")
    cells = table.assign(
        attack=table.attack.map(display_name),
        cell=[f"{r.accuracy:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]" for r in table.itertuples()],
    )
    wide = cells.pivot_table(index="attack", columns="defense", values="cell", aggfunc="first", sort=False)
    return markdown(
        wide.reset_index()[["attack", "none", "defense"]]
        .rename(columns={"none": "no defense"})
        .assign(n=table.n.iloc[0])
    )


def cw_seeds_section(results: Path) -> str:
    """C&W-L2's median L2 over DeepFool's on LeNets trained with several seeds, per CPU kernel set
    (``benchmarks/cw_convergence.py``), with the worst ratio."""
    table = read_results(results, "cw_deepfool_seeds.csv")
    shown = table.assign(
        deepfool=table.deepfool_median_l2.map("{:.3f}".format),
        cw=table.cw_median_l2.map("{:.3f}".format),
        ratio=table.ratio.map("{:.3f}".format),
        success=table.cw_success.map("{:.0%}".format),
    )
    worst = table.loc[table.ratio.idxmax()]
    return (
        markdown(
            shown[["dataset", "seed", "kernels", "n", "deepfool", "cw", "ratio", "success"]].rename(
                columns={
                    "deepfool": "DeepFool median L2",
                    "cw": "C&W-L2 median L2",
                    "ratio": "C&W / DeepFool",
                    "success": "C&W success",
                }
            )
        )
        + f"\n\nWorst ratio: {worst.ratio:.3f} ({worst.dataset}, seed {worst.seed}, {worst.kernels} kernels; "
        f"{table.iterations.iloc[0]} iterations; attack code {', '.join(sorted(set(table.attack_code.dropna())))})."
    )
