"""Backend choice for the rasteriser ops: compiled extension or pure PyTorch.

The extension ``avatar3d.ops._C`` is imported lazily, on the first op call (never
at ``import avatar3d``). When it is missing, the reference implementation runs
and one ``RuntimeWarning`` is issued per process. This is the only module that
imports the compiled extension.

Environment: ``AVATAR3D_OPS_BACKEND=reference`` forces the reference backend
(read once, at the first op call; ``set_backend`` switches at run time).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import warnings
from types import ModuleType

import torch

_LOG = logging.getLogger(__name__)
_EXT_NAME = "avatar3d.ops._C"
_ENV_BACKEND = "AVATAR3D_OPS_BACKEND"

_lock = threading.Lock()
_ext: ModuleType | None = None
_load_error: str | None = None
_loaded = False
_warned = False
_forced: str | None = None
_env_choice: str | None = None


def _load() -> ModuleType | None:
    global _ext, _load_error, _loaded
    if _loaded:
        return _ext
    with _lock:
        if not _loaded:
            try:
                _ext = importlib.import_module(_EXT_NAME)
            except ImportError as exc:  # missing or built against another torch
                _ext = None
                _load_error = f"{type(exc).__name__}: {exc}"
            _loaded = True
    return _ext


def _requested() -> str:
    global _env_choice
    if _forced is not None:
        return _forced
    if _env_choice is None:  # cached: every op call asks
        value = os.environ.get(_ENV_BACKEND, "auto").strip().lower()
        _env_choice = value if value in ("auto", "reference", "cpp") else "auto"
    return _env_choice


def set_backend(name: str) -> None:
    """Force a backend: ``"auto"`` (extension if built), ``"reference"`` or ``"cpp"``
    (the extension, raising ``RuntimeError`` at the next op call if it is missing)."""
    global _forced
    if name not in ("auto", "reference", "cpp"):
        raise ValueError(f"backend must be 'auto', 'reference' or 'cpp', got {name!r}")
    _forced = name


def extension() -> ModuleType | None:
    """The loaded extension (loading it on first use), or None when the reference runs."""
    global _warned
    req = _requested()
    if req == "reference":
        return None
    ext = _load()
    if ext is None:
        if req == "cpp":
            raise RuntimeError(f"avatar3d.ops: the compiled extension is not available ({_load_error})")
        if not _warned:
            _warned = True
            msg = (
                "avatar3d.ops: compiled rasteriser extension avatar3d.ops._C is not available "
                f"({_load_error}); falling back to the slow pure-PyTorch reference. "
                "Build it with `pip install --no-build-isolation -e .`."
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
            _LOG.warning(msg)
    return ext


def use_extension(t: torch.Tensor) -> ModuleType | None:
    """Extension to run an op on ``t`` with, or None for the reference path.

    The compiled kernels are float32-only; float64 (e.g. gradcheck) and devices
    the extension was not built for use the reference transparently.
    """
    if t.dtype != torch.float32:
        return None
    ext = extension()
    if ext is None:
        return None
    if t.device.type == "cpu":
        return ext
    if t.device.type == "cuda" and ext.has_cuda():
        return ext
    return None


def backend_name() -> str:
    """``"cpp"`` or ``"cpp+cuda"`` when the extension is live, else ``"reference"``.

    Loads the extension (it does not compile anything)."""
    ext = extension() if _requested() != "reference" else None
    if ext is None:
        return "reference"
    return "cpp+cuda" if ext.has_cuda() else "cpp"


def backend_info(load: bool = False) -> str:
    """One line for ``avatar3d doctor``: which rasteriser backend is live.

    Without ``load`` the extension is only located, not imported."""
    req = _requested()
    if req == "reference":
        return f"reference (forced by {_ENV_BACKEND}=reference or set_backend)"
    if load or _loaded:
        ext = _load()
        if ext is None:
            return f"reference (extension failed to load: {_load_error})"
        return "cpp+cuda" if ext.has_cuda() else "cpp"
    try:
        spec = importlib.util.find_spec(_EXT_NAME)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "reference (extension avatar3d.ops._C not built)"
    return f"cpp (extension built at {spec.origin}; not loaded yet)"
