"""Render the README's result section from the CSVs a rerun wrote, so no number is typed by hand.

    python -m reconstruction_defense.report --results results --readme README.md

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in the README
(or prints it without ``--readme``). The hand-written prose above those tables is checked too:
a number in it that the CSV rows it cites do not hold is named and the command exits 1, so a
rerun that changes a number cannot leave the prose quoting the old one (:mod:`.prose`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import run_main
from .outputs import atomic_write
from .prose import unsupported_numbers
from .report_sections import SECTIONS

START, END = "<!-- results:start -->", "<!-- results:end -->"
PROSE_HEADING = "## Results of the `cpu` run"


def render(results: Path, partial: bool = False) -> str:
    """Every section, each under a level-3 heading. A missing CSV is an error, unless ``partial``:
    then its section says which file is missing and how to make it."""
    def body(fn) -> str:
        try:
            return fn(results)
        except FileNotFoundError as err:
            if not partial:
                raise
            return f"Not in this run yet: {err}."
    return "\n\n".join(f"### {title}\n\n{body(fn)}" for title, fn in SECTIONS.items())


def replace_between_markers(text: str, body: str) -> str:
    """``text`` with everything between the START and END markers replaced by ``body``."""
    if START not in text or END not in text:
        raise ValueError(f"the README needs the two markers {START} and {END} around the results")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}"


def unsupported_prose_numbers(readme: str, results: Path) -> list[str]:
    """The numbers of the README's hand-written result prose (from its results heading to the
    rendered tables) that the CSV rows each block cites do not hold (:mod:`.prose`)."""
    if PROSE_HEADING not in readme or START not in readme:
        raise ValueError(f"the README needs the heading {PROSE_HEADING!r} and the marker {START}")
    return unsupported_numbers(readme.split(PROSE_HEADING, 1)[1].split(START, 1)[0], results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--readme", default=None, type=Path)
    parser.add_argument("--partial", action="store_true",
                        help="render sections whose CSV is missing as 'not in this run yet'")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    body = render(args.results, args.partial)
    if args.readme is None:
        print(body)
    else:
        text = replace_between_markers(args.readme.read_text(), body)
        atomic_write(args.readme, text.encode())
        stale = unsupported_prose_numbers(text, args.results)
        if stale:
            print(f"{args.readme}: the prose above the tables states {'; '.join(stale)}, which the CSV "
                  f"rows it cites under {args.results}/ do not hold: update the number or its "
                  "<!-- cite FILE.csv: column=value --> comment", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
