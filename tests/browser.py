"""Drive the explorer and the study's website in a real browser: Debian's headless Chromium
(its system executable, no browser download) through Playwright, JupyterLab on a loopback port.

Run as a script it regenerates the README's screenshot of the explorer:
``python tests/browser.py figures/explorer_browser.png``.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# offline machine: without the networking flags Chromium retries Google's hosts at every start
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
EXPLORER = REPO / "notebooks" / "explorer.ipynb"
RENDER_TIMEOUT_MS = 240_000  # a fresh machine trains the smoke models on the spot (about a minute)


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of headless Debian Chromium, tall enough for the explorer's figure."""
    if CHROMIUM is None:
        raise FileNotFoundError("chromium not found: install Debian's browser (as root: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1600})
        finally:
            browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, log: Path) -> Iterator[str]:
    """JupyterLab serving ``root`` on a loopback port with a random token; yields the URL of its
    tree (``.../lab/tree``) and the token query, stops the server and its kernels after."""
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        yield f"http://127.0.0.1:{port}/lab/tree", f"token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}; see its log")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2)
            return
        time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer {url} within {seconds} s")


@dataclass(frozen=True)
class Shown:
    """What the explorer displays: its figure (the PNG's data URL) and its printed readout."""

    figure: str
    readout: str


class Explorer:
    """The explorer notebook opened in JupyterLab and run, with its controls at hand."""

    def __init__(self, page: Page, tree_url: str, token: str, notebook: str) -> None:
        self.page = page
        page.goto(f"{tree_url}/{notebook}?{token}")
        self.panel = page.locator(".jp-NotebookPanel:visible")  # the tab in front
        self.panel.wait_for(timeout=60_000)
        with contextlib.suppress(PlaywrightTimeout):  # JupyterLab asks for the kernel on a fresh machine
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=10_000)
        self.idle.wait_for(timeout=60_000)
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
        page.click("li.lm-Menu-item:has-text('Run All Cells')")
        self.output = self.panel.locator(".jp-Cell").last.locator(".jp-Cell-outputArea")
        self.output.locator("img").wait_for(timeout=RENDER_TIMEOUT_MS)

    @property
    def idle(self):
        return self.panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")

    def shown(self) -> Shown:
        return Shown(
            self.output.locator("img").get_attribute("src") or "",
            self.output.locator(".jp-RenderedText").last.inner_text(),
        )

    def labels(self) -> list[str]:
        return self.output.locator(".widget-label").all_inner_texts()

    def set_slider(self, label: str, value: str, seconds: float = 120) -> Shown:
        """Type ``value`` into the readout of the slider labelled ``label`` (as a user editing the
        number does), press Enter and wait for the output to be redrawn; the new display."""
        before = self.shown()
        slider = self.output.locator(".widget-slider").filter(has=self.page.locator(f"label:text-is('{label}')"))
        readout = slider.locator(".widget-readout")
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Enter")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            now = self._settled()
            if now is not None and now != before:
                return now
            time.sleep(0.5)
        return before  # nothing changed: the caller's assertion says so

    def _settled(self) -> Shown | None:
        """The display once the kernel is idle again, else None."""
        if self.idle.count() == 0:
            return None
        if self.output.locator("img").count() == 0:
            return None
        return self.shown()

    def screenshot(self, path: Path) -> None:
        self.output.scroll_into_view_if_needed()
        self.output.screenshot(path=str(path))


def explorer_copy(folder: Path, replace: tuple[str, str] | None = None) -> str:
    """A copy of the explorer in ``folder`` (JupyterLab's autosave must not touch the committed
    one); ``replace`` plants a change in its source. Its file name."""
    text = EXPLORER.read_text()
    if replace is not None:
        assert replace[0] in text, replace[0]
        text = text.replace(*replace)
    (folder / EXPLORER.name).write_text(text)
    return EXPLORER.name


def screenshot_explorer(target: Path) -> None:
    """Open the explorer, move k and ε, save the screenshot at ``target``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with jupyterlab(folder, folder / "lab.log") as (tree, token), chromium_page() as page:
            explorer = Explorer(page, tree, token, explorer_copy(folder))
            explorer.set_slider("ε", "0.3")
            explorer.screenshot(target)


def images_on_page(page: Page, url: str) -> list[dict]:
    """Every <img> of the page at ``url`` once loaded: its source and whether the browser decoded
    it (a missing or corrupt file has natural width 0)."""
    page.goto(url, wait_until="load")
    return page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0}))"
    )


if __name__ == "__main__":
    screenshot_explorer(Path(sys.argv[1]))
