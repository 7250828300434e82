"""The README's hand-written result prose, checked number by number against the CSVs it cites.

Each paragraph or list item of the prose (from the results heading to the rendered tables) names
the rows its numbers come from in invisible comments, one per row filter::

    ... the adaptive worst case is 92.8 %
    <!-- cite adaptive_verdict.csv: dataset=MNIST; setting=defense, adaptive attacks -->

Every number of the block must then be a value of a cited row, as it would be written: a
fraction as a percentage (``92.8 %``), any number at the decimals the prose shows (``2.81``,
``1,000``), or a number inside a text cell (``paper's eps 0.15``). Each number is bound to one
row: the cites are read in the order the prose uses their rows (one cite's rows in the CSV's
order), and each number must be held by the row the number before it was bound to or a later
one; a cite that binds no number is reported too. So a number that another cited row holds,
stated where the prose speaks of an earlier row, does not pass. A number that no row holds in
that order, or a block with numbers and no citation, is reported: typed in, derived by hand,
taken from the wrong row, or left stale by a rerun. Not results, so not checked: names (``Table 4``, ``notebook 06``,
``ResNet-20``, ``k = 2``), years of references, budgets in 255ths (``8/255``), code spans,
comments and link targets.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

CITE = re.compile(r"<!--\s*cite\s+([\w.-]+\.csv)\s*:(.*?)-->", re.S)
_START = r"(?<![\w.,/])(?<![A-Za-z]-)"  # not inside a name (ResNet-20, q75) or another number
NUMBER = re.compile(_START + r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?: ?%)?|" + _START + r"\d+(?:\.\d+)?(?: ?%)?")
NOT_RESULTS = [
    re.compile(p)
    for p in (
        r"<!--.*?-->",
        r"`[^`]*`",
        r"\]\([^)]*\)",  # comments, code spans, link targets
        r"\b(?:Tables?|Figures?|Fig\.|[Nn]otebooks?|[Ii]ssue|Section|eq\.)\s+\d+(?:\s*(?:-|,|and)\s*\d+)*",
        r"\bet al\.,? \d{4}",
        r"\b(?:19|20)\d{2}\)",
        r"\bk = \d+",
        r"\b\d+/255\b",
    )
]


def prose_blocks(prose: str) -> list[str]:
    """Paragraphs and list items (a list item runs until the next item or a blank line)."""
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", prose):
        blocks += [b for b in re.split(r"\n(?=- )", paragraph.strip()) if b.strip()]
    return blocks


def result_numbers(block: str) -> list[str]:
    """The numbers of ``block`` that state results, as written (``92.8 %``, ``1,000``, ``0.15``)."""
    for pattern in NOT_RESULTS:
        block = pattern.sub(" ", block)
    return [m.group(0) for m in NUMBER.finditer(block)]


def _spellings(value) -> set[str]:
    """How a cell could be written in prose: text cells by the numbers they contain; numbers at
    one to three decimals, as a percentage at one or two if a fraction, and rounded to a whole
    number only where that loses nothing (so 2.81 never reads as "3")."""
    if isinstance(value, str):
        return {_normal(m) for m in NUMBER.findall(value)}
    if isinstance(value, bool) or pd.isna(value) or not math.isfinite(value):
        return set()
    v = float(value)
    out = {f"{v:.{d}f}" for d in range(1, 4)} | ({f"{v:.0f}"} if v == round(v) else set())
    if 0 <= v <= 1:
        percent = 100 * v
        out |= {f"{percent:.{d}f}%" for d in range(1, 3)}
        out |= {f"{percent:.0f}%"} if abs(percent - round(percent)) < 1e-9 else set()
    return out


def _normal(number: str) -> str:
    return number.replace(",", "").replace(" ", "")


def _rows(results: Path, file: str, filters: str) -> pd.DataFrame:
    table = pd.read_csv(results / file)
    for condition in filter(None, (c.strip() for c in filters.split(";"))):
        column, _, value = condition.partition("=")
        column, value = column.strip(), value.strip()
        if column not in table:
            raise ValueError(f"cite {file}: no column {column!r} (columns: {', '.join(table.columns)})")
        cells = table[column]
        numeric = pd.api.types.is_numeric_dtype(cells)
        table = table[(cells - float(value)).abs() < 1e-9] if numeric else table[cells.astype(str) == value]
    if table.empty:
        raise ValueError(f"cite {file}: no row matches {filters.strip()!r}")
    return table


def unsupported_numbers(prose: str, results: Path) -> list[str]:
    """Each number of ``prose`` that its block's cited rows do not hold in the order it is bound
    (see the module's docstring), and each cite that binds no number, with where it stands."""
    problems = []
    for block in prose_blocks(prose):
        where = " ".join(CITE.sub("", block).split())[:60]
        cites = CITE.findall(block)
        rows = [
            (c, set().union(*map(_spellings, row)))
            for c, (file, filters) in enumerate(cites)
            for row in _rows(results, file, filters).to_numpy()
        ]
        at, bound = 0, set()
        for number in result_numbers(block):
            row = next((j for j in range(at, len(rows)) if _normal(number) in rows[j][1]), None)
            if row is None:
                problems.append(f'{number} (in "{where}...")')
                continue
            at = row
            bound.add(rows[row][0])
        problems += [
            f'cite {file}: {filters.strip()} binds no number (in "{where}...")'
            for c, (file, filters) in enumerate(cites)
            if c not in bound
        ]
    return problems
