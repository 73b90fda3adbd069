"""Coordinate frames (DESIGN.md section 3), in one place.

* World = glTF: metres, **Y up**, ground at y = 0; a character at rest faces **+Z**; its own
  left is **+X**.
* Camera = OpenCV: x right, y down, z forward (into the scene); ``x_cam = R x_world + t``.
* Image pixels (u, v): u right, v down, origin at the top-left *corner*; pixel (row i, col j)
  has its centre at (u, v) = (j + 0.5, i + 0.5).
* Clip space (our rasteriser): NDC x right, **NDC y down** (so image rows follow the camera's
  y); ``u = (x/w + 1) W / 2``, ``v = (y/w + 1) H / 2``; depth z/w in [-1, 1], nearer is smaller.
"""

from __future__ import annotations

import torch

#: World "up" axis.
WORLD_UP = (0.0, 1.0, 0.0)
#: Direction a character faces at rest.
WORLD_FORWARD = (0.0, 0.0, 1.0)
#: The character's own left at rest.
WORLD_LEFT = (1.0, 0.0, 0.0)

#: Rotation taking a Z-up, facing -Y frame (Anny, MakeHuman, Blender) to the world frame:
#: x' = x, y' = z, z' = -y (det +1; the character's left stays +X).
ZUP_NEGY_TO_WORLD = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))

#: World -> OpenCV camera rotation for a camera on the +Z side looking back at a character
#: that faces it.  Facing someone, their left hand is on your right, so image right (+x_cam)
#: is world +X, image down (+y_cam) is world -Y and the viewing direction (+z_cam) is world -Z.
FRONT_CAMERA_ROTATION = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))


def frame_matrix(rows: tuple[tuple[float, ...], ...], like: torch.Tensor | None = None) -> torch.Tensor:
    """A constant 3x3 frame matrix as a tensor with ``like``'s dtype and device."""
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return torch.tensor(rows, dtype=dtype, device=device)
