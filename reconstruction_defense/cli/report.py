"""Render the README's and the docs pages' tables from the CSVs a rerun wrote, so no number is
typed by hand.

    recdef report --results results --pages README.md docs/*.md

Fills every ``<!-- rendered: NAME -->`` block of each page (:mod:`..reporting.pages`), then checks
the hand-written prose between ``<!-- checked prose -->`` markers: a number that the CSV rows it
cites do not hold is named and the command exits 1 (:mod:`..reporting.prose`), as it does for a
page naming a results file that is missing (unless ``--partial``). Without ``--pages`` it prints
every block.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.outputs import atomic_write
from ..reporting.pages import BLOCKS, fill_page, missing_result_files, render_block, unsupported_prose_numbers
from .common import run_main


def report_pages(pages: list[Path], results: Path, partial: bool) -> int:
    """Fill and write each page; 1 if any page's checked prose states a number its rows do not hold,
    or (unless ``partial``) a page names a results file that ``results`` lacks."""
    status = 0
    for page in pages:
        text = fill_page(page.read_text(), results, partial)
        atomic_write(page, text.encode())
        stale = unsupported_prose_numbers(text, results)
        if stale:
            print(
                f"{page}: the checked prose states {'; '.join(stale)}, which the CSV rows it cites under "
                f"{results}/ do not hold: update the number or its <!-- cite FILE.csv: column=value --> comment",
                file=sys.stderr,
            )
            status = 1
        missing = [] if partial else missing_result_files(text, results)
        if missing:
            print(
                f"{page}: names {', '.join(missing)}, missing from {results}/: rerun what writes it, or stop naming it",
                file=sys.stderr,
            )
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--pages", nargs="*", default=[], type=Path, help="markdown pages to fill and check")
    parser.add_argument(
        "--partial", action="store_true", help="render sections whose CSV is missing as 'not in this run yet'"
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    args = parser.parse_args(argv)
    if not args.pages:
        print("\n\n".join(f"<!-- {name} -->\n{render_block(name, args.results, args.partial)}" for name in BLOCKS))
        return 0
    return report_pages(args.pages, args.results, args.partial)


if __name__ == "__main__":
    sys.exit(run_main(main))
