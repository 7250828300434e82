"""The explorer in a real browser: JupyterLab on a loopback port, headless Debian Chromium
driven by Playwright. Moving the k and ε sliders must redraw the figure and the readout."""

from __future__ import annotations

import pytest
from browser import Explorer, chromium_page, explorer_copy, jupyterlab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    with jupyterlab(folder, folder / "lab.log") as (tree, token), chromium_page() as page:
        yield folder, tree, token, page


def test_the_explorers_sliders_redraw_its_figure_and_readout(lab):
    folder, tree, token, page = lab
    explorer = Explorer(page, tree, token, explorer_copy(folder))
    assert explorer.labels() == ["dataset", "attack", "k", "ε"]
    first = explorer.shown()
    assert first.figure.startswith("data:image/png") and first.readout.startswith("accuracy on 64 test images")
    at_k16 = explorer.set_slider("k", "16")
    assert at_k16.figure != first.figure and at_k16.readout != first.readout, at_k16.readout
    at_eps = explorer.set_slider("ε", "0.3")
    assert at_eps.figure != at_k16.figure and at_eps.readout != at_k16.readout, at_eps.readout
    explorer.screenshot(folder / "explorer.png")
    assert (folder / "explorer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_check_fails_on_a_slider_that_is_not_wired_to_the_figure(lab):
    folder, tree, token, page = lab
    planted = (
        "widgets.interactive_output(show, controls)",
        "widgets.interactive_output(lambda k, **rest: show(k=2, **rest), controls)",
    )
    (folder / "planted").mkdir()
    explorer = Explorer(page, tree, token, "planted/" + explorer_copy(folder / "planted", planted))
    before = explorer.shown()
    assert explorer.set_slider("k", "16", seconds=20) == before
