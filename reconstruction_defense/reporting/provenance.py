"""Which committed result rows the current code and the shipped weights would not make again:
every results table records, per row, the code versions of the attacks it rests on
(``attack_code``, see :func:`~reconstruction_defense.attacks.versions.attack_code`) and the
shipped weights of its models (``models``, see
:func:`~reconstruction_defense.data.weights.weights_ids`); a row whose record names an attack
version the registry no longer has, or that names attacks but records none, or whose models are
not recorded or not in the weights manifest, is stale, and the pages mark it until a rerun
regenerates it.

Two kinds of results file follow their own rule. Timings (:data:`UNTRAINED`) rest on no trained
weights: their numbers are seconds and rates of freshly initialized networks or of whole
commands. Choice records (:data:`CANDIDATES`) score models their benchmark trains and discards
to choose a recipe (a stand-in, the restorer's size) or to check an attack on several seeds:
each of their rows must name at least one such model by its in-run digest
(:func:`~reconstruction_defense.data.weights.candidate_id`), and any other model it names by
its shipped digest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..attacks.registry import ATTACKS
from ..attacks.versions import attack_code
from ..data import weights
from .sections import markdown

UNTRAINED = {"rerun_times.csv", "rerun_cells.csv", "training_costs.csv", "gpu_speed.csv", "gpu_smoke.csv"}
CANDIDATES = {
    "standins.csv",
    "restorer_grid.csv",
    "cw_deepfool_seeds.csv",
    "cw_deepfool_seeds_heldout.csv",
    "gpu_train.csv",
    "gpu_agree.csv",
}


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


def shipped_digests() -> set[str]:
    """The short digests (first 12 hex digits of sha256) of every shipped model, all profiles."""
    root = weights.weights_root()
    return {
        e["sha256"][:12] for m in root.glob(f"*/{weights.MANIFEST}") for e in weights.read_manifest(m.parent).values()
    }


def _is_candidate(tag: str) -> bool:
    return tag.startswith(weights.CANDIDATE) and len(tag) == len(weights.CANDIDATE) + 12


def _unshipped(table: pd.DataFrame, choice: bool, shipped: set[str]) -> tuple[pd.Series, list[str]]:
    """Per row of one results table, whether its ``models`` fail the rule; and why."""
    recorded = table.models.fillna("").astype(str) if "models" in table else pd.Series("", table.index)
    tags = recorded.map(lambda v: [t for t in v.split(" + ") if t])
    allowed = (lambda t: t in shipped or _is_candidate(t)) if choice else (lambda t: t in shipped)
    foreign = tags.map(lambda ts: sorted(t for t in ts if not allowed(t)))
    uncandidate = (recorded != "") & ~tags.map(lambda ts: any(map(_is_candidate, ts))) & choice
    reasons = sorted({f"weights not shipped: {t}" for row in foreign for t in row})
    reasons += ["weights not recorded"] if (recorded == "").any() else []
    reasons += ["no candidate named"] if uncandidate.any() else []
    return (recorded == "") | (foreign.map(len) > 0) | uncandidate, reasons


def unshipped_rows(results: Path, shipped: set[str] | None = None) -> pd.DataFrame:
    """Per results CSV under ``results`` (but the timings): its rows, how many do not name their
    models' shipped weights (``models`` not recorded, or naming a digest outside ``shipped``, by
    default every manifest's; a choice record naming no candidate) and why; likewise each JSON
    record under ``results/json/`` by its ``checkpoints``."""
    shipped = shipped_digests() if shipped is None else shipped
    out = []
    for path in sorted(p for p in Path(results).glob("*.csv") if p.name not in UNTRAINED):
        table = pd.read_csv(path)
        if table.empty:
            continue
        bad, reasons = _unshipped(table, path.name in CANDIDATES, shipped)
        out.append({"file": path.name, "rows": len(table), "stale": int(bad.sum()), "why": "; ".join(reasons)})
    for path in sorted(Path(results).glob("json/*.json")):
        foreign = sorted(d[:12] for d in json.loads(path.read_text())["checkpoints"].values() if d[:12] not in shipped)
        why = "; ".join(f"weights not shipped: {d}" for d in foreign)
        out.append({"file": f"json/{path.name}", "rows": 1, "stale": int(bool(foreign)), "why": why})
    return pd.DataFrame(out, columns=["file", "rows", "stale", "why"])


def stale_section(results: Path) -> str:
    """The stale mark: each results file with rows the current attacks or the shipped weights
    would not make again."""
    code, models = stale_rows(results), unshipped_rows(results)
    table = code.merge(models, on=["file", "rows"], how="outer", suffixes=("_code", "_models")).fillna(
        {"stale_code": 0, "stale_models": 0, "why_code": "", "why_models": ""}
    )
    table = table[(table.stale_code > 0) | (table.stale_models > 0)]
    if table.empty:
        return "Every result row records the current attack code and names shipped weights."
    shown = pd.DataFrame(
        {
            "file": [f"`{f}`" for f in table.file],
            "rows": table.rows.astype(int),
            "attack code stale": table.stale_code.astype(int),
            "weights stale": table.stale_models.astype(int),
            "why": ["; ".join(w for w in (a, b) if w) for a, b in zip(table.why_code, table.why_models)],
        }
    )
    files = "1 result file holds" if len(table) == 1 else f"{len(table)} result files hold"
    return (
        f"**Stale:** {files} rows that the current attack code "
        "(`reporting.provenance.stale_rows`) or the shipped weights (`unshipped_rows`) would not make; "
        "a rerun regenerates them.\n\n" + markdown(shown)
    )
