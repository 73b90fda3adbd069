"""Boundary checks that raise ValueError naming the argument, the expected and the actual value."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_shape(name: str, tensor: object, expected: Sequence[int | str | None]) -> None:
    """Raise ValueError unless ``tensor`` is a tensor whose shape matches ``expected``.

    ``expected`` entries: an int (that size exactly), a str (a named size that must be the same
    wherever the name repeats), or None (any size).  Example: ``("B", 22, 3)``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {_fmt(expected)}, got {type(tensor).__name__}")
    shape = tuple(tensor.shape)
    bad = len(shape) != len(expected)
    named: dict[str, int] = {}
    if not bad:
        for got, want in zip(shape, expected):
            if isinstance(want, int) and got != want:
                bad = True
            elif isinstance(want, str):
                if named.setdefault(want, got) != got:
                    bad = True
    if bad:
        raise ValueError(f"{name} must have shape {_fmt(expected)}, got {list(shape)}")


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ValueError if ``tensor`` holds NaN or Inf."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        count = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} contains {count} NaN/Inf value(s); all values must be finite")


def check_range(name: str, tensor: torch.Tensor, low: float, high: float) -> None:
    """Raise ValueError if any value of ``tensor`` lies outside [low, high]."""
    check_finite(name, tensor)
    if tensor.numel() == 0:
        return
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < low or hi > high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{lo:.4g}, {hi:.4g}]")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _fmt(expected: Sequence[int | str | None]) -> str:
    return "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
