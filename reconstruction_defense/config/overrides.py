"""Overrides of a profile's nested, frozen config: dotted or nested keys, ``None`` kept as the
profile's value, unknown fields rejected with the valid ones named
(:func:`~reconstruction_defense.config.profiles.get_profile`)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any


def nested_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"data.n_test": 7, "seed": 1}`` -> ``{"data": {"n_test": 7}, "seed": 1}``; ``None``
    values are dropped (so notebook parameters can default to the profile's)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            value = nested_overrides(value)
        if value is None or value == {}:
            continue
        head, _, rest = key.partition(".")
        if rest:
            value = nested_overrides({rest: value})
        if isinstance(out.get(head), dict) and isinstance(value, dict):
            out[head] = {**out[head], **value}
        else:
            out[head] = value
    return out


def apply_overrides(config: Any, overrides: dict[str, Any], where: str = "") -> Any:
    """A copy of the (nested, frozen) dataclass ``config`` with ``overrides`` (as
    :func:`nested_overrides` gives them) replacing its fields; an unknown field raises one error
    that lists the valid ones, named from the root (``where``)."""
    valid = {f.name for f in fields(config)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(
            f"unknown profile field(s) {[f'{where}{u}' for u in unknown]}; valid: "
            f"{sorted(f'{where}{v}' for v in valid)}"
        )
    changes = {}
    for key, value in overrides.items():
        current = getattr(config, key)
        if is_dataclass(current) and isinstance(value, dict):
            value = apply_overrides(current, value, f"{where}{key}.")
        changes[key] = value
    return replace(config, **changes)
