"""The study's website: built in one command from the committed notebooks (warnings are errors,
nothing re-executed), and notebook 06's page opened in headless Chromium with every figure loaded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from browser import REPO, chromium_page, images_on_page

NOTEBOOK = REPO / "notebooks" / "06_adaptive_evaluation.ipynb"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(["bash", str(REPO / "scripts" / "build_site.sh"), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def figures_in(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))


def test_the_site_has_the_readme_as_front_page_every_docs_page_and_every_notebook(site):
    front = (site / "index.html").read_text()
    assert "reconstruction-defense" in front and "Two commands" in front
    for page in (REPO / "docs").glob("*.md"):  # the pages the README's sections moved to
        assert f'href="docs/{page.stem}.html"' in front, page.name
        assert (site / "docs" / f"{page.stem}.html").exists()
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        assert f'href="notebooks/{notebook.stem}.html"' in front, notebook.name
        assert (site / "notebooks" / f"{notebook.stem}.html").exists()


def test_notebook_06s_page_shows_every_figure_in_a_browser(site):
    page_url = (site / "notebooks" / f"{NOTEBOOK.stem}.html").as_uri()
    with chromium_page() as page:
        images = images_on_page(page, page_url)
        figures = [i for i in images if i["src"].startswith("../_images/")]
        assert len(figures) == figures_in(NOTEBOOK) > 0, images
        assert all(i["loaded"] for i in figures), [i for i in figures if not i["loaded"]]
        # planted: a figure file gone from the site is caught
        (site / "_images" / Path(figures[0]["src"]).name).unlink()
        assert not all(i["loaded"] for i in images_on_page(page, page_url))
