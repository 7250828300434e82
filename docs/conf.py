"""Sphinx + MyST-NB: the study as a static website, built from the repository root with the
README as its front page, the pages under docs/ and the executed notebooks as they are committed
(never re-executed).
Built by ``bash scripts/build_site.sh``; warnings are errors."""

from pathlib import Path

project = "reconstruction-defense"
author = "the reconstruction-defense authors"
extensions = ["myst_nb"]
root_doc = "README"
REPO = Path(__file__).resolve().parents[1]  # Sphinx runs this file from docs/
NOTEBOOKS = sorted(f"notebooks/{p.stem}" for p in (REPO / "notebooks").glob("*.ipynb"))
PAGES = [f"docs/{p.stem}" for p in sorted((REPO / "docs").glob("*.md"))]
include_patterns = ["README.md", "docs/*.md", "notebooks/*.ipynb"]
nb_execution_mode = "off"  # the notebooks carry the outputs of the rerun they come from
myst_heading_anchors = 3
html_title = "reconstruction-defense"
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px"}


def toctree_under_readme(app, docname: str, source: list[str]) -> None:
    """The README stays plain Markdown for GitHub; on the site it lists the pages and the notebooks."""
    if docname == root_doc:
        for caption, docs in (("Pages", PAGES), ("Notebooks", NOTEBOOKS)):
            source[0] += f"\n\n```{{toctree}}\n:caption: {caption}\n:maxdepth: 1\n\n" + "\n".join(docs) + "\n```\n"


def setup(app):
    app.connect("source-read", toctree_under_readme)
