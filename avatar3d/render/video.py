"""Render an animated avatar to video frames, and write them as an H.264 MP4.

Scene (world frame of DESIGN.md: metres, Y up, ground y = 0), all rasterised **in one call per
batch of frames** with our rasteriser (:mod:`avatar3d.ops`):

* the avatar, UV-textured (or a plain grey albedo), two-sided Lambert (per vertex, interpolated)
  from a key light above the camera side plus ambient;
* a checkerboard ground at y = 0 (``checker_m`` squares, each its own quad so its edges stay
  sharp and get antialiased), kept within ``fog_end_m`` of the camera path (a corridor, not the
  bounding square of a long walk) and fading into the horizon colour with distance; tiles keep
  every triangle in front of the camera (the rasteriser drops triangles with a vertex behind it);
* a soft contact shadow under the body: a finely subdivided decal of 4 x 4 checker squares, 2 mm
  above the ground around the body, darkened per vertex by a Gaussian (no per-pixel pass);
* a sky backdrop given in clip space behind everything (so every pixel is covered by geometry);
* a camera that follows the body: target = the body's bounding-box centre in x/z, Gaussian-
  smoothed over time (zero phase, no lag), at half the motion's highest point; fixed front-three-
  quarter azimuth (relative to +Z, the direction a motion starts facing), fixed elevation, and a
  distance chosen from that height so the whole body stays in frame;
* analytic silhouette antialiasing (:func:`avatar3d.ops.antialias`).

Speed (the CPU budget is ~30 ms a frame at 512 x 512): one rasterize / interpolate / antialias call
per batch of :attr:`VideoConfig.batch_frames` frames; the seam-split UV mesh, the ground, the decal
template, the edge topology and the vertex-normal incidence matrix are built once per animation;
one 3-channel attribute set serves every surface, so the interpolated image is already the final
colour except on the avatar's pixels, where the texture is sampled; colours are kept x255 + 0.5 so
the conversion to uint8 is one truncation.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar3d import ops
from avatar3d.core.checks import check_shape
from avatar3d.core.geometry import seam_split
from avatar3d.render.camera import intrinsics_from_fov, intrinsics_to_clip
from avatar3d.utils.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

#: Near/far planes of the video camera (metres): tighter than the default for depth precision.
VIDEO_NEAR_M = 0.1
VIDEO_FAR_M = 200.0
#: Plain albedo of an untextured avatar (linear-ish RGB in [0, 1]).
PLAIN_ALBEDO = (0.74, 0.75, 0.78)
#: Ground checker greys (before lighting), the horizon grey the ground fades into, the sky's top.
LIGHT_SQUARE = 0.82
DARK_SQUARE = 0.64
HORIZON = (0.90, 0.92, 0.94)
SKY_TOP = (0.62, 0.74, 0.90)
#: Slight warm tint of the ground (multiplies the checker grey).
GROUND_TINT = (1.0, 0.99, 0.96)
#: The sky backdrop: clip-space half-extent (beyond the image) and depth (behind everything).
SKY_EXTENT_NDC = 1.2
SKY_DEPTH_NDC = 0.9999
#: Contact-shadow Gaussian sigma per metre of body height.
SHADOW_RADIUS_PER_HEIGHT = 0.17
#: Largest contact-shadow sigma (metres): the decal must hold the shadow (>= 2.5 sigma margin).
MAX_SHADOW_RADIUS_M = 0.5
#: Shadow decal: DECAL_TILES x DECAL_TILES checker squares, each DECAL_SUBDIVISIONS^2 quads,
#: DECAL_HEIGHT_M above the ground (drawn over it by the depth test).
DECAL_TILES = 4
DECAL_SUBDIVISIONS = 6
DECAL_HEIGHT_M = 0.002


@dataclass(frozen=True)
class VideoConfig:
    """Settings of :func:`render_animation` (angles in degrees, distances in metres).

    Attributes:
        fov_deg: vertical field of view.
        azimuth_deg: camera direction from the body, rotated from +Z (front) towards +X (the
            body's left at the start): 0 = front view, 35 = front three-quarter.
        elevation_deg: how far above the target the camera looks down from.
        framing: frame height / body height (distance follows from it and ``fov_deg``).
        follow_sigma_s: Gaussian smoothing of the followed body centre, seconds.
        batch_frames: frames per rasteriser call.
        checker_m: checker square size (one ground tile each).
        fog_start_m, fog_end_m: horizontal distance from the camera target where the ground
            starts fading into the horizon colour, and where it is gone (no ground is drawn
            beyond ``fog_end_m`` plus a square's diagonal from every target).
        shadow_strength: darkening at the centre of the contact shadow (0 = none).
        ambient: ambient light fraction.
        antialias: silhouette antialiasing.
    """

    fov_deg: float = 35.0
    azimuth_deg: float = 35.0
    elevation_deg: float = 12.0
    framing: float = 1.35
    follow_sigma_s: float = 0.5
    batch_frames: int = 16
    checker_m: float = 1.0
    fog_start_m: float = 5.0
    fog_end_m: float = 12.0
    shadow_strength: float = 0.45
    ambient: float = 0.4
    antialias: bool = True

    def __post_init__(self) -> None:
        if not 5.0 <= self.fov_deg <= 120.0:
            raise ValueError(f"fov_deg must be in [5, 120], got {self.fov_deg}")
        if not -10.0 <= self.elevation_deg <= 80.0:
            raise ValueError(f"elevation_deg must be in [-10, 80], got {self.elevation_deg}")
        if not self.framing >= 1.0:
            raise ValueError(f"framing must be >= 1 (the whole body in frame), got {self.framing}")
        if self.batch_frames < 1:
            raise ValueError(f"batch_frames must be >= 1, got {self.batch_frames}")
        if not 0.25 <= self.checker_m <= 3.0:
            raise ValueError(f"checker_m must be in [0.25, 3] m (ground tiles must stay in front of "
                             f"the camera), got {self.checker_m}")
        if not 0 < self.fog_start_m < self.fog_end_m <= 50.0:
            raise ValueError(f"need 0 < fog_start_m < fog_end_m <= 50, got {self.fog_start_m}, {self.fog_end_m}")


# ------------------------------------------------------------------------------------- camera
@dataclass(frozen=True)
class CameraPath:
    """Per-frame cameras (OpenCV convention, ``x_cam = R x_world + t``).

    Attributes:
        K: ``[3, 3]`` intrinsics (pixels); width, height: image size.
        R: ``[T, 3, 3]`` world -> camera rotations; t: ``[T, 3]`` translations (metres).
        targets: ``[T, 3]`` the world points the camera looks at.
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    targets: torch.Tensor
    width: int
    height: int

    @property
    def horizon_row(self) -> float:
        """Image row of the horizon (the camera is never rolled; its pitch is fixed)."""
        forward = self.R[0, 2].to(torch.float64)  # camera z axis in world coordinates
        pitch = math.asin(max(-1.0, min(1.0, -float(forward[1]))))  # > 0 looking down
        return float(self.K[1, 2]) - float(self.K[1, 1]) * math.tan(pitch)

    def clip_matrices(self, near: float = VIDEO_NEAR_M, far: float = VIDEO_FAR_M) -> torch.Tensor:
        """``[T, 4, 4]`` world -> clip matrices for :func:`avatar3d.ops.rasterize`."""
        P = intrinsics_to_clip(self.K.to(torch.float64), self.width, self.height, near, far)
        Rt = torch.zeros(self.R.shape[0], 4, 4, dtype=torch.float64)
        Rt[:, :3, :3] = self.R.to(torch.float64)
        Rt[:, :3, 3] = self.t.to(torch.float64)
        Rt[:, 3, 3] = 1.0
        return P @ Rt


def gaussian_smooth_time(x: torch.Tensor, sigma_frames: float) -> torch.Tensor:
    """Zero-phase Gaussian smoothing of ``[T, C]`` along time.  The ends are padded by point
    reflection (``2 x[0] - x[k]``), so a uniform motion passes through unchanged, up to the ends."""
    t = x.shape[0]
    if sigma_frames <= 0 or t < 2:
        return x.clone()
    radius = max(1, int(math.ceil(3.0 * sigma_frames)))
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (k / sigma_frames) ** 2)
    kernel = kernel / kernel.sum()
    x64 = x.to(torch.float64)
    steps = torch.arange(1, radius + 1)
    left = 2.0 * x64[0] - x64[steps.clamp(max=t - 1)].flip(0)
    right = 2.0 * x64[-1] - x64[(t - 1 - steps).clamp(min=0)]
    padded = torch.cat((left, x64, right))
    out = torch.nn.functional.conv1d(padded.T[:, None], kernel[None, None])[:, 0].T
    return out.to(x.dtype)


def follow_camera(frames_vertices: torch.Tensor, fps: float, size: int,
                  config: VideoConfig = VideoConfig()) -> CameraPath:
    """The following camera for ``[T, V, 3]`` world vertices (see the module docstring)."""
    check_shape("frames_vertices", frames_vertices, ("T", "V", 3))
    v = frames_vertices.detach()
    centre = 0.5 * (v.amin(dim=1) + v.amax(dim=1)).to(torch.float64)  # [T, 3] bounding-box centres
    top = float(v[..., 1].max())
    top = max(top, 0.5)  # a sensible frame even for a degenerate mesh
    xz = gaussian_smooth_time(centre[:, [0, 2]], config.follow_sigma_s * fps)
    t_count = v.shape[0]
    targets = torch.stack((xz[:, 0], torch.full((t_count,), 0.5 * top, dtype=torch.float64), xz[:, 1]), -1)
    half = math.radians(config.fov_deg) / 2.0
    distance = config.framing * top / (2.0 * math.tan(half))
    az, el = math.radians(config.azimuth_deg), math.radians(config.elevation_deg)
    offset = torch.tensor([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)],
                          dtype=torch.float64)
    eye = targets + distance * offset
    forward = -offset.expand(t_count, 3)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand(t_count, 3)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, up, dim=-1), dim=-1)
    down = torch.linalg.cross(forward, right, dim=-1)
    R = torch.stack((right, down, forward), dim=1)
    t = -(R @ eye[..., None])[..., 0]
    K = intrinsics_from_fov(size, size, config.fov_deg, dtype=torch.float64)
    return CameraPath(K=K, R=R, t=t, targets=targets, width=size, height=size)


# ------------------------------------------------------------------------------------- ground
def ground_tiles(targets_xz: torch.Tensor, config: VideoConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checker tiles at y = 0 around a camera-target path ``[T, 2]`` (x, z).

    Every tile of ``config.checker_m`` metres has its own four vertices (so its colour stays
    sharp and its edges are antialiased); only tiles within ``fog_end_m`` (plus a tile's
    diagonal) of some target are kept.  Returns vertices ``[4N, 3]`` float32, faces ``[2N, 3]``
    int64 (counter-clockwise from above) and ``[N]`` bool, True for the dark squares.
    """
    size = config.checker_m
    reach = config.fog_end_m + 1.5 * size
    lo = targets_xz.amin(0) - reach
    hi = targets_xz.amax(0) + reach
    ix = torch.arange(math.floor(float(lo[0]) / size), math.ceil(float(hi[0]) / size))
    iz = torch.arange(math.floor(float(lo[1]) / size), math.ceil(float(hi[1]) / size))
    gz, gx = torch.meshgrid(iz, ix, indexing="ij")
    cells = torch.stack((gx.reshape(-1), gz.reshape(-1)), -1)  # [N, 2] integer cell coordinates
    centres = (cells.to(torch.float64) + 0.5) * size
    path = targets_xz.to(torch.float64)[:: max(1, targets_xz.shape[0] // 256)]
    near = torch.cdist(centres, path).amin(dim=1) <= reach
    cells = cells[near]
    n = cells.shape[0]
    corners = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=torch.float64)
    xz = ((cells.to(torch.float64)[:, None] + corners[None]) * size).reshape(-1, 2)
    vertices = torch.stack((xz[:, 0], torch.zeros_like(xz[:, 0]), xz[:, 1]), -1).to(torch.float32)
    base = torch.arange(n)[:, None] * 4
    faces = torch.cat((base + torch.tensor([0, 2, 1]), base + torch.tensor([1, 2, 3])), dim=1).reshape(-1, 3)
    dark = (cells.sum(-1) % 2) == 1
    return vertices, faces.long(), dark


# ------------------------------------------------------------------------------------- scene
@dataclass(frozen=True)
class _Scene:
    """Everything built once per animation.

    One mesh is rasterised per frame: the seam-split avatar (faces 1..Fa in the rasteriser's
    1-based triangle ids), the ground tiles, the shadow decal, and a sky backdrop given directly
    in clip space (behind everything, covering the image), so every pixel is covered and needs no
    background pass.  One 3-channel attribute set serves them all: avatar (u, v, Lambert factor);
    ground, decal and sky (R, G, B).  Colours are stored x255 plus 0.5, so the final conversion to uint8 is a
    single truncation (interpolation and antialiasing blend colours convexly).
    """

    split_index: torch.Tensor  # [Vs] position index of each seam-split avatar vertex
    split_uvs: torch.Tensor  # [Vs, 2]
    incidence: torch.Tensor  # sparse CSR [V, F] vertex <- face, for vertex normals
    avatar_faces: torch.Tensor  # [Fa, 3] int64 on the original vertices
    ground_vertices: torch.Tensor  # [G, 3]
    ground_colour: torch.Tensor  # [G, 3] lit checker colour (x255, before fog)
    decal_offsets: torch.Tensor  # [D, 2] shadow-decal vertex offsets (checker squares)
    decal_parity: torch.Tensor  # [D] tile parity of each decal vertex
    sky_clip: torch.Tensor  # [S, 4] sky backdrop vertices in clip space
    sky_colour: torch.Tensor  # [S, 3] x255 + 0.5
    faces: torch.Tensor  # [Fa + Fg + Fd + Fs, 3] int32
    topology: torch.Tensor | None
    num_avatar_faces: int
    texture: torch.Tensor | None  # [1, Ht, Wt, 3] float32, x255
    plain: torch.Tensor  # [3] plain albedo, x255
    light: torch.Tensor  # [3] unit direction towards the key light


def _incidence(faces: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """Sparse CSR ``[V, F]`` with a 1 where face f uses vertex v."""
    f = faces.shape[0]
    rows = faces.reshape(-1)
    order = torch.argsort(rows, stable=True)
    crow = torch.zeros(num_vertices + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_vertices), 0)
    cols = torch.arange(f).repeat_interleave(3)[order]
    with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, torch.ones(3 * f), (num_vertices, f), check_invariants=False)


def _sky_backdrop(horizon_row: float, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clip-space backdrop (``[6, 4]``), its colours (``[6, 3]``, x255 + 0.5) and faces
    (``[4, 3]``, local indices): SKY_TOP above the image fading to HORIZON at the horizon row,
    HORIZON below it; at depth SKY_DEPTH_NDC, behind all geometry."""
    y_h = min(max(2.0 * horizon_row / size - 1.0, -SKY_EXTENT_NDC + 0.1), SKY_EXTENT_NDC - 0.1)
    e = SKY_EXTENT_NDC
    ys = (-e, y_h, e)
    clip = torch.tensor([[x, y, SKY_DEPTH_NDC, 1.0] for y in ys for x in (-e, e)])
    top = torch.tensor(SKY_TOP)
    # the top row of the backdrop lies above the image: extrapolate so row 0 shows SKY_TOP
    w_top = (e - 1.0) / max(y_h + 1.0, 1e-3)
    colours = torch.stack((top + (top - torch.tensor(HORIZON)) * w_top,) * 2 + (torch.tensor(HORIZON),) * 4)
    faces = torch.tensor([[0, 2, 1], [1, 2, 3], [2, 4, 3], [3, 4, 5]])
    return clip, (colours.clamp(0.0, 1.0) * 255.0 + 0.5), faces


def _light_direction(config: VideoConfig) -> torch.Tensor:
    """Key light: from above and in front, 40 degrees off the camera azimuth (towards the light)."""
    az = math.radians(config.azimuth_deg - 40.0)
    return torch.nn.functional.normalize(torch.tensor([math.sin(az), 1.1, math.cos(az)]), dim=0)


def _build_scene(num_vertices: int, faces: torch.Tensor, uvs, face_uvs, texture, cameras: CameraPath,
                 config: VideoConfig) -> _Scene:
    faces = faces.long()
    if uvs is not None and texture is not None:
        split_index, split_faces, uv_index = seam_split(faces, face_uvs)
        split_uvs = uvs[uv_index].to(torch.float32)
        tex = texture.detach().to(torch.float32)
        if float(tex.max()) > 1.0 + 1e-6:  # uint8-range values
            tex = tex / 255.0
        tex = (tex.clamp(0.0, 1.0) * 255.0)[None].contiguous()
    else:
        split_index, split_faces, split_uvs = torch.arange(num_vertices), faces, torch.zeros(num_vertices, 2)
        tex = None
    light = _light_direction(config)
    ground_v, ground_f, dark = ground_tiles(cameras.targets[:, [0, 2]], config)
    lit = config.ambient + (1.0 - config.ambient) * float(light[1])
    grey = torch.where(dark, DARK_SQUARE, LIGHT_SQUARE) * lit * 255.0
    ground_colour = (grey[:, None] * torch.tensor(GROUND_TINT)).repeat_interleave(4, dim=0)
    sky_clip, sky_colour, sky_faces = _sky_backdrop(cameras.horizon_row, cameras.height)
    decal_offsets, decal_faces, decal_parity = shadow_decal()
    vs, g, d = split_index.shape[0], ground_v.shape[0], decal_offsets.shape[0]
    all_faces = torch.cat((split_faces, ground_f + vs, decal_faces + vs + g, sky_faces + vs + g + d))
    all_faces = all_faces.to(torch.int32).contiguous()
    topology = ops.edge_topology(all_faces, vs + g + d + sky_clip.shape[0]) if config.antialias else None
    return _Scene(split_index=split_index, split_uvs=split_uvs, incidence=_incidence(faces, num_vertices),
                  avatar_faces=faces, ground_vertices=ground_v, ground_colour=ground_colour,
                  decal_offsets=decal_offsets, decal_parity=decal_parity, sky_clip=sky_clip,
                  sky_colour=sky_colour, faces=all_faces, topology=topology,
                  num_avatar_faces=int(split_faces.shape[0]), texture=tex,
                  plain=torch.tensor(PLAIN_ALBEDO) * 255.0, light=light)


def _avatar_shade(vertices: torch.Tensor, scene: _Scene, ambient: float) -> torch.Tensor:
    """``[B, V]`` two-sided Lambert factor per vertex (area-weighted normals via one sparse
    ``[V, F] @ [F, 3B]`` product)."""
    b, v = vertices.shape[:2]
    flat = vertices.permute(1, 0, 2).reshape(v, 3 * b)
    f = scene.avatar_faces
    p0 = flat.index_select(0, f[:, 0])
    e1 = (flat.index_select(0, f[:, 1]) - p0).view(-1, b, 3)
    e2 = (flat.index_select(0, f[:, 2]) - p0).view(-1, b, 3)
    n = torch.linalg.cross(e1, e2, dim=-1).view(-1, 3 * b)
    summed = (scene.incidence @ n).view(v, b, 3)
    cos = (summed @ scene.light).abs() / summed.norm(dim=-1).clamp_min(1e-12)
    return (ambient + (1.0 - ambient) * cos).T


def shadow_decal(subdivisions: int = DECAL_SUBDIVISIONS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The contact-shadow decal template: DECAL_TILES x DECAL_TILES checker tiles (1 checker
    square each, own vertices, so square edges stay sharp), each split into ``subdivisions``^2
    quads so the shadow's per-vertex darkening is smooth.  Returns the vertices' (x, z) offsets
    in squares from the block's corner ``[D, 2]``, faces ``[F, 3]`` int64 (counter-clockwise from
    above) and each vertex's tile parity ``[D]`` (0/1, for the checker colour)."""
    n = subdivisions
    k = torch.arange(n + 1, dtype=torch.float64) / n
    gz, gx = torch.meshgrid(k, k, indexing="ij")
    local = torch.stack((gx.reshape(-1), gz.reshape(-1)), -1)  # [(n+1)^2, 2]
    i = torch.arange(n)[:, None] * (n + 1) + torch.arange(n)[None, :]
    quad = torch.cat((torch.stack((i, i + n + 1, i + 1), -1).reshape(-1, 3),
                      torch.stack((i + 1, i + n + 1, i + n + 2), -1).reshape(-1, 3)))
    tiles = [(tx, tz) for tz in range(DECAL_TILES) for tx in range(DECAL_TILES)]
    per = local.shape[0]
    offsets = torch.cat([local + torch.tensor([tx, tz], dtype=torch.float64) for tx, tz in tiles])
    faces = torch.cat([quad + t * per for t in range(len(tiles))])
    parity = torch.tensor([(tx + tz) % 2 for tx, tz in tiles]).repeat_interleave(per)
    return offsets, faces.long(), parity


def _fogged(colour: torch.Tensor, xz: torch.Tensor, targets_xz: torch.Tensor, config: VideoConfig) -> torch.Tensor:
    """``[B, N, 3]`` colours (x255) at ``[B, N, 2]`` ground points faded towards HORIZON with
    their distance from each frame's camera target ``[B, 2]``, plus 0.5 (for uint8 rounding)."""
    rho = (xz - targets_xz[:, None]).norm(dim=-1)
    fog = ((rho - config.fog_start_m) / (config.fog_end_m - config.fog_start_m)).clamp_(0.0, 1.0)
    fog = (fog * fog * (3.0 - 2.0 * fog))[..., None]
    return torch.lerp(colour, (torch.tensor(HORIZON) * 255.0).expand_as(colour), fog) + 0.5


def _render_batch(scene: _Scene, verts: torch.Tensor, clip_m: torch.Tensor, targets: torch.Tensor,
                  shadow_centres: torch.Tensor, shadow_radius: float, config: VideoConfig, size: int) -> torch.Tensor:
    """``[B, H, W, 3]`` uint8 images of ``[B, V, 3]`` vertices seen through ``[B, 4, 4]`` matrices."""
    b = verts.shape[0]
    vs, g = scene.split_index.shape[0], scene.ground_vertices.shape[0]
    d, ns = scene.decal_offsets.shape[0], scene.sky_clip.shape[0]
    square = config.checker_m
    # the shadow decal: DECAL_TILES^2 squares around the grid corner nearest each shadow centre
    origin = torch.round(shadow_centres.to(torch.float64) / square) - DECAL_TILES // 2  # [B, 2] in squares
    decal_xz = ((origin[:, None] + scene.decal_offsets[None]) * square).to(torch.float32)  # [B, D, 2]
    dark = (origin.sum(-1).long()[:, None] + scene.decal_parity[None]) % 2 == 1  # [B, D]
    decal = torch.stack((decal_xz[..., 0], torch.full_like(decal_xz[..., 0], DECAL_HEIGHT_M), decal_xz[..., 1]), -1)
    light = scene.light
    lit = config.ambient + (1.0 - config.ambient) * float(light[1])
    grey = torch.where(dark, DARK_SQUARE, LIGHT_SQUARE) * lit * 255.0
    d2 = ((decal_xz - shadow_centres[:, None]) ** 2).sum(-1)
    grey = grey * (1.0 - config.shadow_strength * torch.exp(-d2 / (2.0 * shadow_radius ** 2)))
    decal_colour = grey[..., None] * torch.tensor(GROUND_TINT)
    # clip positions: avatar, ground and decal through the frame's camera; the sky as given
    m = clip_m.to(torch.float32)
    positions = torch.cat((verts.index_select(1, scene.split_index), scene.ground_vertices.expand(b, g, 3), decal), 1)
    pos_clip = torch.empty(b, vs + g + d + ns, 4)
    torch.baddbmm(m[:, None, :, 3], positions, m[:, :, :3].transpose(1, 2), out=pos_clip[:, :vs + g + d])
    pos_clip[:, vs + g + d:] = scene.sky_clip
    # attributes: avatar (u, v, Lambert factor); ground and decal (fogged colour); sky (colour)
    attr = torch.empty(b, vs + g + d + ns, 3)
    attr[:, :vs, :2] = scene.split_uvs
    attr[:, :vs, 2] = _avatar_shade(verts, scene, config.ambient).index_select(1, scene.split_index)
    t_xz = targets[:, [0, 2]]
    ground_xz = scene.ground_vertices[None, :, [0, 2]]
    attr[:, vs:vs + g] = _fogged(scene.ground_colour.expand(b, g, 3), ground_xz, t_xz, config)
    attr[:, vs + g:vs + g + d] = _fogged(decal_colour, decal_xz, t_xz, config)
    attr[:, vs + g + d:] = scene.sky_colour
    rast = ops.rasterize(pos_clip, scene.faces, (size, size))
    image = ops.interpolate(attr, rast, scene.faces)  # [B, H, W, 3]: final colour except the avatar
    tri = rast[..., 3]
    px = ((tri <= scene.num_avatar_faces) & (tri > 0)).view(-1).nonzero().squeeze(1)
    if px.numel():
        flat = image.view(-1, 3)
        a = flat.index_select(0, px)
        if scene.texture is not None:
            uv = a[None, None, :, :2].contiguous()
            albedo = ops.texture(scene.texture, uv, filter="bilinear", boundary="clamp")[0, 0]
        else:
            albedo = scene.plain.expand(px.numel(), 3)
        flat.index_copy_(0, px, torch.addcmul(torch.full_like(albedo, 0.5), albedo, a[:, 2:3]))
    if config.antialias:
        image = ops.antialias(image, rast, pos_clip, scene.faces, scene.topology)
    return image.to(torch.uint8)


def _check_inputs(frames_vertices, faces, uvs, face_uvs, texture, fps, size) -> None:
    check_shape("frames_vertices", frames_vertices, ("T", "V", 3))
    check_shape("faces", faces, ("F", 3))
    if frames_vertices.shape[0] < 1:
        raise ValueError("frames_vertices must hold at least one frame, got 0")
    if not float(fps) > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not (isinstance(size, int) and 16 <= size <= 4096 and size % 2 == 0):
        raise ValueError(f"size must be an even int in [16, 4096] (H.264 needs even dimensions), got {size!r}")
    if (uvs is None) != (face_uvs is None):
        raise ValueError("uvs and face_uvs must be given together")
    if uvs is not None:
        check_shape("uvs", uvs, (None, 2))
        check_shape("face_uvs", face_uvs, (faces.shape[0], 3))
    if texture is not None:
        check_shape("texture", texture, (None, None, 3))
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= frames_vertices.shape[1]):
        raise ValueError(f"faces index vertices 0..{frames_vertices.shape[1] - 1}, "
                         f"got [{int(faces.min())}, {int(faces.max())}]")
    if not bool(torch.isfinite(frames_vertices).all()):
        raise ValueError("frames_vertices contains NaN/Inf")


def iter_render_animation(frames_vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor | None = None,
                          face_uvs: torch.Tensor | None = None, texture: torch.Tensor | None = None,
                          fps: float = 30.0, size: int = 512, config: VideoConfig = VideoConfig()
                          ) -> Iterator[np.ndarray]:
    """Like :func:`render_animation`, yielding ``[B, H, W, 3]`` uint8 batches in frame order
    (for streaming long clips into :func:`write_mp4` without holding every frame).  Inputs are
    checked and the scene is built at the call; frames are rendered as the iterator is consumed."""
    _check_inputs(frames_vertices, faces, uvs, face_uvs, texture, fps, size)
    with torch.no_grad():
        verts = frames_vertices.detach().to(torch.float32)
        cameras = follow_camera(verts, float(fps), size, config)
        scene = _build_scene(verts.shape[1], faces, uvs, face_uvs, texture, cameras, config)
        clip_m = cameras.clip_matrices()
        # contact shadow under the body's bounding-box centre, sized from its standing height
        centres = 0.5 * (verts.amin(dim=1) + verts.amax(dim=1))[:, [0, 2]]
        height = max(float(verts[0, :, 1].max() - verts[0, :, 1].min()), 0.5)
        # the decal reaches >= 1.5 squares from the shadow centre: keep the shadow within 2.5 sigma
        radius = min(MAX_SHADOW_RADIUS_M, SHADOW_RADIUS_PER_HEIGHT * height, 0.6 * config.checker_m)
        targets = cameras.targets.to(torch.float32)

    def batches() -> Iterator[np.ndarray]:
        for a in range(0, verts.shape[0], config.batch_frames):
            s = slice(a, a + config.batch_frames)
            with torch.no_grad():
                yield _render_batch(scene, verts[s], clip_m[s], targets[s], centres[s], radius, config, size).numpy()

    return batches()


def render_animation(frames_vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor | None = None,
                     face_uvs: torch.Tensor | None = None, texture: torch.Tensor | None = None,
                     fps: float = 30.0, size: int = 512, config: VideoConfig = VideoConfig()) -> np.ndarray:
    """Render a posed mesh sequence: ``uint8 [T, size, size, 3]`` RGB frames (row 0 at the top).

    Args:
        frames_vertices: ``[T, V, 3]`` posed vertices, world frame (metres, Y up, feet on y = 0).
        faces: ``[F, 3]`` triangles (counter-clockwise from outside).
        uvs, face_uvs: ``[Vt, 2]`` texture coordinates (glTF: v down) and ``[F, 3]`` per-corner
            indices, or None.
        texture: ``[Ht, Wt, 3]`` float RGB in [0, 1] (uint8-range values are rescaled), or None
            for a plain grey body.
        fps: frame rate (the camera's smoothing is in seconds).
        size: output width = height in pixels (even, for H.264).
        config: scene/camera settings (:class:`VideoConfig`).
    """
    batches = list(iter_render_animation(frames_vertices, faces, uvs, face_uvs, texture, fps, size, config))
    return np.concatenate(batches, 0)


# ------------------------------------------------------------------------------------- mp4
def write_mp4(frames: np.ndarray | Iterable[np.ndarray], fps: float, path: str | Path, quality: float = 7.0) -> Path:
    """Write RGB frames as an H.264 (libx264, yuv420p) MP4, atomically; returns ``path``.

    Args:
        frames: uint8 ``[T, H, W, 3]``, or an iterable of ``[H, W, 3]`` frames or ``[B, H, W, 3]``
            batches (e.g. :func:`iter_render_animation`); H and W must be even.
        fps: frames per second (the video lasts ``T / fps`` seconds).
        path: the ``.mp4`` file.
        quality: imageio-ffmpeg quality, 0 (worst) .. 10 (best).
    """
    import imageio.v2 as imageio  # optional heavy import, only when writing a video

    if not float(fps) > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"path must end in .mp4, got {path.name!r}")
    count = 0
    with tempfile.TemporaryDirectory(prefix=".video-", dir=path.parent if path.parent.exists() else None) as tmp:
        tmp_path = Path(tmp) / "video.mp4"
        writer = imageio.get_writer(str(tmp_path), format="FFMPEG", mode="I", fps=float(fps), codec="libx264",
                                    pixelformat="yuv420p", quality=quality, macro_block_size=2,
                                    ffmpeg_log_level="error")
        try:
            shape = None
            for chunk in ([frames] if isinstance(frames, np.ndarray) else frames):
                chunk = np.asarray(chunk)
                batch = chunk[None] if chunk.ndim == 3 else chunk
                if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
                    raise ValueError(f"frames must be uint8 [T, H, W, 3] (or [H, W, 3] per frame), got "
                                     f"{batch.dtype} {list(chunk.shape)}")
                if shape is None:
                    shape = batch.shape[1:3]
                    if shape[0] % 2 or shape[1] % 2:
                        raise ValueError(f"H.264 (yuv420p) needs even frame dimensions, got {shape[1]}x{shape[0]}")
                elif batch.shape[1:3] != shape:
                    raise ValueError(f"all frames must have the same size {tuple(shape)}, "
                                     f"got {tuple(batch.shape[1:3])}")
                for frame in batch:
                    writer.append_data(np.ascontiguousarray(frame))
                    count += 1
        finally:
            writer.close()
        if count == 0:
            raise ValueError("no frames to write")
        atomic_write_bytes(path, tmp_path.read_bytes())
    log.info("wrote %s (%d frames at %.2f fps)", path, count, float(fps))
    return path
