"""Where the computation runs. Data stays on the CPU; each batch moves to the device of the
model that consumes it, and every result (predictions, adversarial examples, checkpoints) comes
back to the CPU, so a cache made on a GPU serves a CPU rerun and the other way round."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class DeviceError(RuntimeError):
    """The device asked for cannot be used on this machine; the message names the fix."""


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; any other name is
    checked here, before any data is loaded (``cuda`` on a machine without CUDA is an error)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} asked for, but this machine has no CUDA device "
            "(torch.cuda.is_available() is False); use --device cpu or auto"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer; the CPU for a module without any
    (a quantizer, a median filter)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def on_device_of(model: nn.Module, *tensors: Tensor) -> tuple[Tensor, ...]:
    """``tensors`` moved to ``model``'s device (asynchronously from pinned memory on a GPU)."""
    device = model_device(model)
    return tuple(t.to(device, non_blocking=True) for t in tensors)


@contextlib.contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """What runs inside computes in true float32: no autocast, and no TF32, which cuDNN uses for
    convolutions on Ampere and later GPUs by default. Attacks and scoring run this way:
    low-precision gradients weaken attacks."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def device_name(device: str) -> str:
    """``cpu``, or the GPU's model name (for benchmark rows)."""
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else device
