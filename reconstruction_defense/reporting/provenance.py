"""Which committed result rows the current attack code would not make again: every results table
records, per row, the code versions of the attacks it rests on (``attack_code``, see
:func:`~reconstruction_defense.attacks.registry.attack_code`); a row whose record names an attack
version the registry no longer has, or that names attacks but records none, is stale, and the
pages mark it until a rerun regenerates it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..attacks.registry import ATTACKS
from ..attacks.versions import attack_code
from .sections import markdown


def outdated(recorded: str) -> list[str]:
    """The ``"key vN"`` entries of a recorded ``attack_code`` whose version is not the current one."""
    return [
        f"{key} v{version} (now v{ATTACKS[key].version})" if key in ATTACKS else f"{key} v{version} (gone)"
        for key, version in re.findall(r"(\w+) v(\d+)", recorded)
        if key not in ATTACKS or ATTACKS[key].version != int(version)
    ]


def stale_rows(results: Path) -> pd.DataFrame:
    """Per results CSV under ``results`` with an ``attack`` column: its rows, how many are stale
    (an outdated attack version recorded, or attacks named and no version recorded) and why."""
    out = []
    for path in sorted(Path(results).glob("*.csv")):
        table = pd.read_csv(path)
        if "attack" not in table or table.empty:
            continue
        named = attack_code(table.attack) != ""
        recorded = table.attack_code.fillna("").astype(str) if "attack_code" in table else pd.Series("", table.index)
        old = recorded.map(outdated)
        unrecorded = named & (recorded == "")
        stale = unrecorded | (old.map(len) > 0)
        reasons = sorted({o for row in old for o in row}) + (["version not recorded"] if unrecorded.any() else [])
        out.append({"file": path.name, "rows": len(table), "stale": int(stale.sum()), "why": "; ".join(reasons)})
    return pd.DataFrame(out, columns=["file", "rows", "stale", "why"])


def stale_section(results: Path) -> str:
    """The stale mark: each results file with rows the current attacks would not make again."""
    table = stale_rows(results)
    table = table[table.stale > 0]
    if table.empty:
        return "Every result row records the current attack code."
    shown = pd.DataFrame(
        {
            "file": [f"`{f}`" for f in table.file],
            "stale rows": [f"{s} of {r}" for s, r in zip(table.stale, table.rows)],
            "why": table.why,
        }
    )
    return (
        f"**Stale:** {int(table.stale.sum())} result rows in {len(table)} files do not come from the current "
        "attack code (`reporting.provenance.stale_rows`); a rerun regenerates them.\n\n" + markdown(shown)
    )
