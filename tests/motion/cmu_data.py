"""Where the CMU mocap folder is, for tests (skipped with a reason when it is missing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = (
    os.environ.get("AVATAR3D_CMU_DIR", ""),
    str(ROOT / "shared" / "mocap" / "cmu"),
    "/work/shared/mocap/cmu",
)


def cmu_dir() -> Path:
    """The CMU clip folder ($AVATAR3D_CMU_DIR, <repo>/shared/mocap/cmu, /work/shared/mocap/cmu)."""
    for candidate in CANDIDATES:
        if candidate and (Path(candidate) / "sources.tsv").exists():
            return Path(candidate)
    pytest.skip("CMU mocap folder not found (set AVATAR3D_CMU_DIR to the folder holding sources.tsv)")


def cmu_file(name: str) -> Path:
    path = cmu_dir() / name
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path
