"""Does the paper hold? The README's opening table, one per dataset: per claim of the paper
(Tables 1-3 at the table's eps, the end points of Figures 6-8, Table 4's ranking) the paper's
value beside ours under the paper's protocol, ours under the adaptive worst case, the exact
interval where notebook 08 computed that eps, the seed spread of the defended number, and a
one-word verdict (:func:`verdict_word`). Every cell is read from the CSVs a rerun wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..attacks.registry import ATTACKS, PAPER_ATTACKS, display_name
from ..config.profiles import recipe_for
from ..data.datasets import BUILTIN, INFOS
from .paper import comparison_table, figure_end_points, transfer_tables
from .sections import markdown, read_results

OURS = "Our Method"
NOT_RUN = "not run"


@dataclass(frozen=True)
class Measured:
    """An accuracy with its 95 % interval."""

    accuracy: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.accuracy:.1%} [{self.low:.1%}, {self.high:.1%}]"


def verdict_word(
    paper: float, protocol: Measured | None, spread: tuple[float, float] | None, adaptive: Measured | None
) -> str:
    """One word per claim. ``breaks under adaptive attack``: the adaptive worst case's interval
    lies wholly below the paper's value. Otherwise the paper's value against our protocol
    interval widened to the seeds' lowest and highest value: ``reproduced`` inside it, ``below``
    (ours below the paper) or ``above``."""
    if protocol is None:
        return NOT_RUN
    if adaptive is not None and adaptive.high < paper:
        return "breaks under adaptive attack"
    low, high = (protocol.low, protocol.high)
    if spread:
        low, high = min(low, spread[0]), max(high, spread[1])
    return "reproduced" if low <= paper <= high else "below" if paper > high else "above"


def dataset_key(display: str) -> str:
    """``"CIFAR-10 (JPEG q75 copy)"`` -> ``"cifar10"``: the built-in dataset a table row names."""
    for key in BUILTIN:
        if display == INFOS[key].display_name or display.startswith(INFOS[key].display_name + " ("):
            return key
    raise ValueError(f"{display!r} names none of the built-in datasets {', '.join(BUILTIN)}")


def _optional(results: Path, name: str) -> pd.DataFrame:
    """A results CSV, or an empty frame where no run wrote it yet (its cells then read "not run")."""
    return read_results(results, name) if (results / name).exists() else pd.DataFrame()


def _measured(rows: pd.DataFrame) -> Measured | None:
    return Measured(*rows.iloc[0][["accuracy", "ci_low", "ci_high"]]) if len(rows) else None


def _near(values: pd.Series, target: float) -> pd.Series:
    return (values - target).abs() < 1e-6  # grids round eps to 6 decimals


@dataclass(frozen=True)
class Results:
    """The CSVs the verdict reads, each possibly empty."""

    strength: pd.DataFrame  # notebook 03: the paper's protocol at every strength
    adaptive: pd.DataFrame  # notebook 06: the L-inf cascade
    l2: pd.DataFrame  # notebook 06: minimal L2 attacks through BPDA
    exact: pd.DataFrame  # notebook 08
    spread: pd.DataFrame  # notebook 04: the protocol's seed spread
    comparison: pd.DataFrame  # notebook 05: Table 4, the paper's protocol
    whitebox: pd.DataFrame  # notebook 05: Table 4, every row attacked through its pipeline

    @classmethod
    def read(cls, results: Path) -> Results:
        """The strength table is required (it names the datasets); the others may be missing."""
        names = ("adaptive_accuracy", "adaptive_l2", "exact_summary", "seed_spread")
        names += ("table4_comparison", "table4_whitebox")
        return cls(read_results(results, "fig678_strength.csv"), *(_optional(results, f"{n}.csv") for n in names))

    def of(self, name: str, dataset: str) -> pd.DataFrame:
        frame = getattr(self, name)
        return frame[frame.dataset == dataset] if len(frame) else frame


@dataclass(frozen=True)
class Adaptive:
    """The adaptive cell of a claim: the measurement, what it was measured at, and whether it
    may enter the verdict (not when it was made on another model than the protocol row)."""

    measured: Measured | None
    note: str = ""
    trusted: bool = True

    def __str__(self) -> str:
        return f"{self.measured}{self.note}" if self.measured else NOT_RUN


def _claim(
    label: str,
    paper: float,
    protocol: Measured | None,
    adaptive: Adaptive | None,
    exact: str,
    spread: tuple | None,
    spread_missing: str,
) -> dict:
    """One row of the verdict; ``adaptive`` None where no attack applies (the clean row)."""
    counted = adaptive.measured if adaptive is not None and adaptive.trusted else None
    return {
        "claim": label,
        "paper": f"{paper:.0%}",
        "ours, paper's protocol": str(protocol) if protocol else NOT_RUN,
        "ours, adaptive worst case": "-" if adaptive is None else str(adaptive),
        "exact": exact,
        "seeds": f"{spread[0]:.1%} ({spread[1]:.1%}-{spread[2]:.1%}), {spread[3]} seeds" if spread else spread_missing,
        "verdict": verdict_word(paper, protocol, spread[1:3] if spread else None, counted),
    }


def _spread(spread: pd.DataFrame, attack: str, strength: float) -> tuple | None:
    """The seeds' (mean, lowest, highest, count) of the defended accuracy at this strength."""
    if not len(spread):
        return None
    # notebook 04 names the defended rows after the defense ("quantize k=2 + restorer")
    s = spread[(spread.defense != "none") & (spread.attack == attack) & _near(spread.strength, strength)]
    return tuple(s.iloc[0][["mean", "low", "high", "seeds"]]) if len(s) else None


def _protocol(strength: pd.DataFrame, attack: str, budget: float) -> Measured | None:
    if not len(strength):
        return None
    return _measured(
        strength[(strength.defense == "defense") & (strength.attack == attack) & _near(strength.strength, budget)]
    )


def _adaptive_linf(adaptive: pd.DataFrame, eps: float) -> Measured | None:
    if not len(adaptive):
        return None
    worst = adaptive[(adaptive.threat == "adaptive") & (adaptive.attack == "worst case")]
    return _measured(worst[_near(worst.eps, eps)])


def _adaptive_l2(l2: pd.DataFrame, radius: float) -> Measured | None:
    if not len(l2):
        return None
    return _measured(l2[(l2.threat == "adaptive") & (l2.attack == "worst case") & _near(l2.l2, radius)])


def _same_model(frame: pd.DataFrame, strength: pd.DataFrame) -> bool:
    return not len(frame) or set(frame.model) == set(strength.model)


def _exact(exact: pd.DataFrame, eps: float) -> str:
    rows = exact[_near(exact.eps, eps)] if len(exact) else exact
    if not len(rows):
        return "-"
    r = rows.iloc[0]
    return f"[{r.exact_low:.1%}, {r.exact_high:.1%}]"


def strength_claims(res: Results, display: str) -> list[dict]:
    """Tables 1-3 (defended ResNet-50 at the table's eps, DeepFool and C&W at 50 iterations) and
    Figures 6-8 at their largest strength: the L-inf attacks beside the adaptive cascade at the
    same eps, DeepFool and C&W beside the adaptive minimal-L2 worst case at the smallest radius.
    An adaptive number made on another model than the protocol's is shown, marked, and left out
    of the verdict."""
    key, recipe = dataset_key(display), recipe_for(dataset_key(display))
    strength, adaptive, exact, spread = (res.of(n, display) for n in ("strength", "adaptive", "exact", "spread"))
    paper = transfer_tables()
    paper = paper[(paper.dataset == key) & (paper.network == "resnet50") & paper.defended].set_index("attack")
    radius = recipe.l2_radii[0]
    other = " (another model: see the heading)"
    l2_same, linf_same = _same_model(res.of("l2", display), strength), _same_model(adaptive, strength)
    l2 = Adaptive(
        _adaptive_l2(res.of("l2", display), radius), f" at L2 ≤ {radius:g}" + ("" if l2_same else other), l2_same
    )
    ends = figure_end_points(key)
    rows = []
    for source, attacks in (("Table", ("clean", *PAPER_ATTACKS)), ("Figure", PAPER_ATTACKS)):
        for attack in attacks:
            linf = attack == "clean" or ATTACKS[attack].strength == "eps"
            eps = recipe.table_eps if source == "Table" else recipe.max_eps
            budget = 0.0 if attack == "clean" else eps if linf else 50.0
            where = "" if attack == "clean" else f", ε = {eps:g}" if linf else ", 50 iterations"
            label = f"{'clean' if attack == 'clean' else display_name(attack)}{where}"
            rows.append(
                _claim(
                    f"{label} ({'Tables 1-3' if source == 'Table' else 'Figures 6-8, end point'})",
                    paper.accuracy[attack] if source == "Table" else ends[attack][1],
                    _protocol(strength, attack, budget),
                    None
                    if attack == "clean"
                    else Adaptive(_adaptive_linf(adaptive, eps), "" if linf_same else other, linf_same)
                    if linf
                    else l2,
                    _exact(exact, eps) if linf and attack != "clean" else "-",
                    _spread(spread, attack, budget),
                    "-" if len(spread) else NOT_RUN,
                )
            )
    return rows


def method_rank(table: pd.DataFrame, methods: list[str], level: int = 1) -> int:
    """Rank of :data:`OURS` among ``methods`` (1 = most robust) by the mean accuracy over the
    paper's four attacks at Table 4's stronger ``level`` (``attack`` rows) or by the single
    white-box accuracy (rows without ``attack``)."""
    rows = table[(table.level == level) & table.method.isin(methods)]
    if "attack" in rows:
        rows = rows[rows.attack.isin(PAPER_ATTACKS)]
    means = rows.groupby("method").accuracy.mean().sort_values(ascending=False)
    return list(means.index).index(OURS) + 1


def ranking_claim(res: Results, display: str) -> list[dict]:
    """Table 4's claim that the defense is the most robust of the compared methods (Fashion-MNIST,
    the stronger level): its rank among the paper's methods, under the paper's protocol and with
    every row attacked through its whole pipeline."""
    comparison = res.of("comparison", display)
    if not len(comparison):
        return []
    paper_table = comparison_table()
    methods = [m for m in paper_table.method.unique() if m in set(comparison.method)]
    whitebox = res.of("whitebox", display)
    ranks = [method_rank(paper_table, methods), method_rank(comparison, methods)]
    adaptive = f"rank {method_rank(whitebox, methods)} of {len(methods)}" if len(whitebox) else NOT_RUN
    word = "reproduced" if ranks[1] == ranks[0] else "below" if ranks[1] > ranks[0] else "above"
    if len(whitebox) and method_rank(whitebox, methods) > ranks[0]:
        word = "breaks under adaptive attack"
    return [
        {
            "claim": "rank of the defense in Table 4 (mean over the four attacks, stronger level)",
            "paper": f"rank {ranks[0]} of {len(methods)}",
            "ours, paper's protocol": f"rank {ranks[1]} of {len(methods)}",
            "ours, adaptive worst case": adaptive,
            "exact": "-",
            "seeds": "-",
            "verdict": word,
        }
    ]


def _heading(res: Results, display: str) -> str:
    parts = []
    for name, label in (("strength", "paper's protocol"), ("adaptive", "adaptive L-inf"), ("l2", "adaptive L2")):
        rows = res.of(name, display)
        if len(rows):
            models = " / ".join(rows.model.unique())
            parts.append(f"{label}: {models}, {' / '.join(f'{n:,}' for n in sorted(rows.n.unique()))} test images")
    return f"**{display}** ({'; '.join(parts)})"


def verdict_section(results: Path) -> str:
    """One markdown table per dataset of notebook 03's strength table: every claim of the paper
    beside our protocol, adaptive, exact and seed-spread numbers and a one-word verdict."""
    res = Results.read(results)
    blocks = []
    for display in res.strength.dataset.unique():
        table = pd.DataFrame(strength_claims(res, display) + ranking_claim(res, display))
        blocks.append(f"{_heading(res, display)}\n\n{markdown(table)}")
    return "\n\n".join(blocks)
