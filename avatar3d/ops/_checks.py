"""Input validation for the public ops: ValueError naming the argument and the actual value."""
from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import torch

MAX_RESOLUTION = 8192
_FLOAT_DTYPES = (torch.float32, torch.float64)


def _shape(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)}, dtype {t.dtype}, device {t.device}"


def tensor(name: str, t, dims: Sequence[int], last: int | None = None, dtypes=_FLOAT_DTYPES) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name} must be {want}, got {_shape(t)}")
    if last is not None and t.shape[-1] != last:
        raise ValueError(f"{name} must have {last} channels in its last dimension, got {_shape(t)}")
    if t.dtype not in dtypes:
        names = ", ".join(str(d) for d in dtypes)
        raise ValueError(f"{name} must have dtype {names}; got {_shape(t)}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous (call .contiguous()), got strides {t.stride()} for {_shape(t)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got {_shape(t)}")


def same_device(name: str, t: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    if t.device != ref.device:
        raise ValueError(f"{name} is on {t.device} but {ref_name} is on {ref.device}")


def same_dtype(name: str, t: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    if t.dtype != ref.dtype:
        raise ValueError(f"{name} has dtype {t.dtype} but {ref_name} has dtype {ref.dtype}")


def finite(name: str, t: torch.Tensor) -> None:
    # numpy's test costs ~10 us on a body mesh; torch.isfinite(t).all() ~100 us of
    # op dispatch, a sizeable part of a 1 ms rasterize call
    if t.device.type == "cpu":
        ok = bool(np.isfinite(t.detach().numpy()).all())
    else:
        ok = bool(torch.isfinite(t).all())
    if not ok:
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN/Inf values ({_shape(t)})")


def resolution(value) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"resolution must be an int or a (height, width) pair of ints, got {value!r}")
    h, w = int(value[0]), int(value[1])
    if not (0 < h <= MAX_RESOLUTION and 0 < w <= MAX_RESOLUTION):
        raise ValueError(f"resolution must be in [1, {MAX_RESOLUTION}] per side, got (height, width) = ({h}, {w})")
    return h, w


# faces validated once per (tensor object, version, vertex count)
_faces_ok: dict[int, tuple] = {}


def faces(t, num_vertices: int, name: str = "faces") -> None:
    tensor(name, t, (2,), last=3, dtypes=(torch.int32,))
    key = id(t)
    hit = _faces_ok.get(key)
    if hit is not None and hit[0]() is t and hit[1] == t._version and hit[2] == num_vertices:
        return
    lo, hi = torch.aminmax(t)
    lo, hi = int(lo), int(hi)
    if lo < 0 or hi >= num_vertices:
        raise ValueError(
            f"{name} indices must be in [0, {num_vertices - 1}] (number of vertices), "
            f"got min {lo}, max {hi} ({_shape(t)})"
        )
    if len(_faces_ok) > 64:
        _faces_ok.clear()
    _faces_ok[key] = (weakref.ref(t), t._version, num_vertices)


def choice(name: str, value, options: Sequence[str]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value
