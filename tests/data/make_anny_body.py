"""Regenerate tests/data/anny_body.npz: the default Anny body mesh in the avatar3d world frame.

Run:  ANNY_CACHE_DIR=/path/to/cache python tests/data/make_anny_body.py

Contents (all from ``anny.Anny(rig="anny")`` at its default parameters):
  verts  float32 [V, 3]  metres, glTF world frame (Y up, facing +Z), min y = 0
  faces  int32   [F, 3]  triangles (anny's own, ~27k)
  uvs    float32 [T, 2]  anny texture coordinates
  face_uvs int32 [F, 3]  per-face-corner indices into uvs
Anny's frame is Z up, facing -Y: x' = x, y' = z, z' = -y, then shifted so min y = 0.
"""
from __future__ import annotations

import os

import numpy as np


def main() -> None:
    import anny
    import torch

    model = anny.Anny(rig="anny").float()
    with torch.no_grad():
        out = model()
    v = out["vertices"][0].detach().cpu().numpy().astype(np.float64)
    verts = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)
    verts[:, 1] -= verts[:, 1].min()
    faces = np.asarray(model.faces.detach().cpu().numpy() if hasattr(model.faces, "detach") else model.faces)
    uvs = model.texture_coordinates
    fuv = model.face_texture_coordinate_indices
    uvs = np.asarray(uvs.detach().cpu().numpy() if hasattr(uvs, "detach") else uvs, dtype=np.float32)
    fuv = np.asarray(fuv.detach().cpu().numpy() if hasattr(fuv, "detach") else fuv, dtype=np.int32)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "anny_body.npz")
    np.savez_compressed(
        path,
        verts=verts.astype(np.float32),
        faces=faces.astype(np.int32),
        uvs=uvs,
        face_uvs=fuv,
    )
    print(f"wrote {path}: verts {verts.shape}, faces {faces.shape}, uvs {uvs.shape}, face_uvs {fuv.shape}")


if __name__ == "__main__":
    main()
