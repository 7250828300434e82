"""What every command line shares: the profile and device options, checked by argparse, and
errors as one line naming the fix (the traceback only with ``--debug``)."""

from __future__ import annotations

import argparse
import ast
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ..config.device import DeviceError, resolve_device
from ..config.profiles import PROFILES
from ..data.checkpoints import CheckpointError
from ..data.datasets import DataNotFoundError, DataUnreadableError
from ..data.outputs import OutputError
from ..data.weights import WeightsError

# errors whose message already says what to do; anything else is a bug and keeps its traceback
USER_ERRORS = (
    DataNotFoundError,
    DataUnreadableError,
    DeviceError,
    CheckpointError,
    WeightsError,
    OutputError,
    FileNotFoundError,
    PermissionError,
    ValueError,
)


def checked_device(name: str) -> str:
    """An argparse type: a device name checked against this machine (:func:`resolve_device`)."""
    try:
        return resolve_device(name)
    except DeviceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--profile`` (auto or a profile name), ``--device`` (checked against this machine) and
    ``--debug``."""
    parser.add_argument(
        "--profile", default="auto", choices=["auto", *PROFILES], help="auto: paper with CUDA, else cpu"
    )
    parser.add_argument(
        "--device",
        default=None,
        type=checked_device,
        help="auto (cuda when available), cpu, cuda or cuda:N; default: the profile's (auto)",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def add_override_option(parser: argparse.ArgumentParser, note: str) -> None:
    """``--set KEY=VALUE ...``: profile overrides, read by :func:`profile_overrides`."""
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help=f"profile overrides, e.g. data.n_test=100 ({note})"
    )


def profile_overrides(items: list[str]) -> dict[str, Any]:
    """``["data.n_test=60", "seed=1"]`` -> ``{"data.n_test": 60, "seed": 1}`` (values as Python
    literals, else strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE (e.g. data.n_test=100); got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``; a user error (:data:`USER_ERRORS`) becomes one line on stderr and exit
    status 2, with its traceback only when ``--debug`` is given."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return main(argv)
    except USER_ERRORS as err:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
