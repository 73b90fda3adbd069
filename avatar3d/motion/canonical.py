"""The canonical SMPL-22 skeleton every library motion is retargeted to.

It is the SMPL-22 joint set of Anny's average body (all six phenotypes 0.5) at its rest pose
(identity pose parameters, an A-pose-like stance: arms ~45 degrees down, elbows slightly bent
forward, feet a little apart), in the world frame of DESIGN.md: metres, Y up, facing +Z, the
person's left at +X, feet on y = 0.  Rest orientations are the identity (core.kinematics
convention), so a :class:`core.Motion` on this skeleton drives Anny by putting each SMPL joint's
local rotation on the Anny bone whose head is that joint (``body.anny_backend.smpl22_bones``).

The asset ``assets/motion/canonical_smpl22.json`` is made by
``scripts/build_canonical_skeleton.py``; loading it needs no body model.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import torch

from avatar3d.core import Skeleton
from avatar3d.core.joints import SMPL22, SMPL22_PARENTS

#: Environment variable that overrides the assets folder (default: the repository's assets/).
ASSETS_ENV = "AVATAR3D_ASSETS"
CANONICAL_SKELETON_FILE = Path("motion") / "canonical_smpl22.json"


def assets_dir() -> Path:
    """The assets folder: $AVATAR3D_ASSETS, else ``assets/`` at the repository root."""
    env = os.environ.get(ASSETS_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "assets"


def canonical_skeleton_path() -> Path:
    return assets_dir() / CANONICAL_SKELETON_FILE


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[tuple[float, float, float], ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if tuple(data["names"]) != SMPL22 or tuple(data["parents"]) != SMPL22_PARENTS:
        raise ValueError(f"{path}: joints/parents are not the SMPL-22 set in core.joints order")
    rest = tuple(tuple(float(v) for v in row) for row in data["rest_positions"])
    if len(rest) != len(SMPL22) or any(len(r) != 3 for r in rest):
        raise ValueError(f"{path}: rest_positions must be 22 x 3")
    return rest


def load_canonical_skeleton(path: str | Path | None = None, dtype: torch.dtype = torch.float32) -> Skeleton:
    """The canonical SMPL-22 :class:`core.Skeleton` (rest positions ``[22, 3]`` in metres,
    world frame, rest orientations identity).

    Args:
        path: the JSON asset (default :func:`canonical_skeleton_path`).
        dtype: of ``rest_positions``.
    """
    path = Path(path) if path is not None else canonical_skeleton_path()
    if not path.exists():
        raise FileNotFoundError(f"canonical skeleton asset {path} is missing; run scripts/build_canonical_skeleton.py")
    rest = torch.tensor(_read(str(path.resolve())), dtype=dtype)
    return Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=rest)
