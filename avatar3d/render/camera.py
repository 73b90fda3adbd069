"""Camera -> clip space for our rasteriser (see avatar3d.core.frames for the conventions)."""

from __future__ import annotations

import math

import torch

from avatar3d.core import Camera

#: Default near/far planes in metres: a person is never closer than 5 cm or beyond 1 km.
DEFAULT_NEAR_M = 0.05
DEFAULT_FAR_M = 1000.0


def intrinsics_to_clip(K: torch.Tensor, width: int, height: int, near: float = DEFAULT_NEAR_M, far: float = DEFAULT_FAR_M) -> torch.Tensor:
    """``[4, 4]`` matrix P with ``clip = P @ (x, y, z, 1)`` for camera-frame points (OpenCV axes).

    Pixel u = fx x/z + cx maps to NDC x = 2u/W - 1, and v to NDC y = 2v/H - 1 (y down, like
    image rows); z in [near, far] maps to z/w in [-1, 1]; w = z.
    """
    P = torch.zeros(4, 4, dtype=K.dtype, device=K.device)
    P[0, 0] = 2.0 * K[0, 0] / width
    P[0, 1] = 2.0 * K[0, 1] / width
    P[0, 2] = 2.0 * K[0, 2] / width - 1.0
    P[1, 1] = 2.0 * K[1, 1] / height
    P[1, 2] = 2.0 * K[1, 2] / height - 1.0
    P[2, 2] = (far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = 1.0
    return P


def camera_points_to_clip(points_cam: torch.Tensor, camera: Camera, near: float = DEFAULT_NEAR_M, far: float = DEFAULT_FAR_M) -> torch.Tensor:
    """``[..., V, 3]`` camera-frame points -> ``[..., V, 4]`` clip coordinates."""
    P = intrinsics_to_clip(camera.K.to(points_cam), camera.width, camera.height, near, far)
    homogeneous = torch.cat((points_cam, torch.ones_like(points_cam[..., :1])), dim=-1)
    return homogeneous @ P.T


def world_to_clip(points_world: torch.Tensor, camera: Camera, near: float = DEFAULT_NEAR_M, far: float = DEFAULT_FAR_M) -> torch.Tensor:
    """``[..., V, 3]`` world points -> ``[..., V, 4]`` clip coordinates for ``camera``."""
    return camera_points_to_clip(camera.world_to_camera(points_world), camera, near, far)


def intrinsics_from_fov(width: int, height: int, fov_y_deg: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[3, 3]`` K with square pixels, the given vertical field of view and a centred principal point."""
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return torch.tensor([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype)


def look_at_front(target: torch.Tensor, distance: float, K: torch.Tensor, width: int, height: int, elevation_m: float = 0.0) -> Camera:
    """A camera on the +Z side of ``target`` (world), ``distance`` metres away, looking at it.

    ``elevation_m`` raises the camera (it then looks slightly down).  Used for renders of a
    character facing +Z (the front view).
    """
    target = target.to(K.dtype)
    eye = target + torch.tensor([0.0, elevation_m, distance], dtype=K.dtype)
    forward = torch.nn.functional.normalize(target - eye, dim=0)  # camera +z
    world_up = torch.tensor([0.0, 1.0, 0.0], dtype=K.dtype)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, world_up), dim=0)  # camera +x
    down = torch.linalg.cross(forward, right)  # camera +y
    R = torch.stack((right, down, forward))
    return Camera(K=K, R=R, t=-R @ eye, width=width, height=height)
