"""Progress bars inside attacks: they count the classifier's forward passes, appear only for
attacks that take a while, and can be silenced for a block (adversarial training, ``progress=False``)."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterable, Iterator

from torch import nn
from tqdm.auto import tqdm

from . import distributed


def bar(iterable: Iterable | None = None, *, shown: bool = True, **options) -> tqdm:
    """A tqdm progress bar, hidden where ``shown`` is false and on every rank but the writer.
    Otherwise tqdm's own default decides, so ``TQDM_DISABLE=1`` silences it (``conftest.py`` sets
    it for nbval's kernels, which read a cell's messages only when it ends and lose the last
    ones beyond the kernel's high-water mark of about 1,000)."""
    if not shown or not distributed.is_writer():
        options["disable"] = True
    return tqdm(iterable, **options)


SHOW_PROGRESS = contextvars.ContextVar("show_attack_progress", default=True)


@contextlib.contextmanager
def attack_progress(shown: bool) -> Iterator[None]:
    """Whether attacks run inside the block show their per-pass progress bars."""
    token = SHOW_PROGRESS.set(shown)
    try:
        yield
    finally:
        SHOW_PROGRESS.reset(token)


BAR_DELAY_S = 2.0  # in a notebook each bar is a widget of a dozen kernel messages: quick attacks show none


@contextlib.contextmanager
def passes_bar(model: nn.Module, total: int, desc: str) -> Iterator[None]:
    """A progress bar inside an attack: it counts the forward passes of the classifier (a hook; of
    ``model.classifier`` in a defended pipeline), so it moves for our attacks and torchattacks'
    alike. It appears only once an attack of more than one pass has run ``BAR_DELAY_S`` seconds."""
    wanted = total > 1 and SHOW_PROGRESS.get()
    start, passes, shown_bar = time.monotonic(), 0, None

    def count(*_) -> None:  # a forward hook that returned bar.update()'s value would replace the output
        nonlocal passes, shown_bar
        passes += 1
        if shown_bar is not None:
            shown_bar.update()
        elif wanted and time.monotonic() - start >= BAR_DELAY_S:
            shown_bar = bar(total=total, initial=passes, desc=desc, unit="pass", leave=False, mininterval=1.0)

    hook = getattr(model, "classifier", model).register_forward_hook(count)  # the flip search calls it directly
    try:
        yield
    finally:
        hook.remove()
        if shown_bar is not None:
            shown_bar.close()
