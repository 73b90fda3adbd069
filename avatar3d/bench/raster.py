"""Rasteriser benchmark: ``avatar3d bench raster`` / ``python -m avatar3d.bench.raster``.

Scene: the default Anny body mesh (tests/data/anny_body.npz, ~27k triangles),
frontal OpenCV pinhole camera, the body spanning ~85 % of the image height as
in a full-body photo; "8 views" are the same camera with the body turned about
its vertical axis in 45 degree steps. Timings are medians over repeated runs
after warm-up, in milliseconds, on ``torch.get_num_threads()`` threads (2 by
default, the target machine). Open3D's Embree ray caster
(``open3d.t.geometry.RaycastingScene``, optional) is timed on the same mesh and
camera when installed; ``speedup_vs_open3d`` = Open3D time / our forward time.
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

_LOG = logging.getLogger(__name__)

BODY_FRACTION = 0.85  # body height / image height
CAMERA_DISTANCE_M = 3.0
NEAR_M, FAR_M = 0.1, 100.0
TARGETS_MS = {
    "rasterize_fwd_512_1view": 1.0,
    "rasterize_fwd_1024_1view": 2.5,
    "rasterize_fwd_512_8views": 8.0,
    "rasterize_fwd_1024_8views": 20.0,
    "pipeline_fwd_bwd_512": 3.0,
    "pipeline_fwd_bwd_1024": 8.0,
}
MEMORY_TARGET_BYTES = 1 << 30
OPEN3D_MIN_SPEEDUP = 3.0


@dataclass(frozen=True)
class PinholeCamera:
    """OpenCV pinhole camera (x right, y down, z forward), world->camera R, t."""

    fx: float
    fy: float
    cx: float
    cy: float
    R: np.ndarray  # [3, 3]
    t: np.ndarray  # [3]
    height: int
    width: int


def default_mesh_path() -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "data" / "anny_body.npz"


def load_body(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(verts float32 [V, 3] world frame, faces int32 [F, 3]) of the benchmark body."""
    data = np.load(path or default_mesh_path())
    return data["verts"].astype(np.float32), data["faces"].astype(np.int32)


def frontal_camera(verts: np.ndarray, height: int, width: int, yaw_deg: float = 0.0) -> PinholeCamera:
    """Camera on the +Z side of a body (world: Y up, body faces +Z) looking at it,
    with the body (turned by ``yaw_deg`` about Y) spanning BODY_FRACTION of the height."""
    ymin, ymax = float(verts[:, 1].min()), float(verts[:, 1].max())
    f = BODY_FRACTION * height * CAMERA_DISTANCE_M / (ymax - ymin)
    a = math.radians(yaw_deg)
    yaw = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    # world -> camera for a camera at (0, yc, D) looking down -Z with y down: x_c = X, y_c = -Y, z_c = -Z
    flip = np.diag([1.0, -1.0, -1.0])
    R = flip @ yaw
    centre = np.array([0.0, 0.5 * (ymin + ymax), CAMERA_DISTANCE_M])
    t = -flip @ centre
    return PinholeCamera(f, f, width / 2.0, height / 2.0, R, t, height, width)


def clip_positions(verts: np.ndarray, cam: PinholeCamera) -> np.ndarray:
    """World points [V, 3] -> clip (x, y, z, w) [V, 4] in avatar3d.ops conventions
    (NDC y down, u = (x/w + 1) W/2, z/w = -1 at NEAR_M and +1 at FAR_M)."""
    pc = verts.astype(np.float64) @ cam.R.T + cam.t
    x, y, z = pc[:, 0], pc[:, 1], pc[:, 2]
    # u = fx x/z + cx  ->  x_ndc = 2u/W - 1 = (2 fx x + (2 cx - W) z) / (W z)
    xc = (2.0 * cam.fx * x + (2.0 * cam.cx - cam.width) * z) / cam.width
    yc = (2.0 * cam.fy * y + (2.0 * cam.cy - cam.height) * z) / cam.height
    a = (FAR_M + NEAR_M) / (FAR_M - NEAR_M)
    b = -2.0 * FAR_M * NEAR_M / (FAR_M - NEAR_M)
    return np.stack([xc, yc, a * z + b, z], axis=1).astype(np.float32)


def body_clip(height: int, width: int, views: int = 1, path=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(pos_clip float32 [views, V, 4], faces int32 [F, 3]) for the benchmark scene."""
    verts, faces = load_body(path)
    pos = [clip_positions(verts, frontal_camera(verts, height, width, 45.0 * i)) for i in range(views)]
    return torch.from_numpy(np.stack(pos)), torch.from_numpy(faces)


def _median_ms(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _open3d_ms(height: int, width: int, repeat: int) -> float | None:
    try:
        import open3d as o3d  # optional bench dependency
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        _LOG.info("open3d unavailable: %s", exc)
        return None
    verts, faces = load_body()
    cam = frontal_camera(verts, height, width)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(faces.astype(np.uint32)))
    K = o3d.core.Tensor(np.array([[cam.fx, 0, cam.cx], [0, cam.fy, cam.cy], [0, 0, 1]]))
    ext = np.eye(4)
    ext[:3, :3] = cam.R
    ext[:3, 3] = cam.t
    rays = scene.create_rays_pinhole(K, o3d.core.Tensor(ext), width, height)
    nthreads = torch.get_num_threads()
    return _median_ms(lambda: scene.cast_rays(rays, nthreads=nthreads), repeat)


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _peak_rss_bytes()


def _extra_memory_bytes(fn) -> int:
    """Upper bound on the extra resident memory of ``fn()``: peak RSS after it minus
    the RSS before it (includes the op's output)."""
    before = _current_rss_bytes()
    out = fn()
    peak = _peak_rss_bytes()
    del out
    return max(0, peak - before)


def run_raster_bench(
    threads: int = 2,
    repeat: int = 30,
    with_open3d: bool = True,
    mesh_path: str | os.PathLike | None = None,
) -> dict:
    """Run the rasteriser benchmark; returns a flat JSON-able dict (times in ms)."""
    from avatar3d import ops

    torch.set_num_threads(threads)
    res: dict = {
        "bench": "raster",
        "backend": ops.backend_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    verts, faces_np = load_body(mesh_path)
    # memory first (before other runs raise the process's peak): 8 views at 1024^2
    pos, faces = body_clip(1024, 1024, 8, mesh_path)
    ops.rasterize(pos[:1], faces, (16, 16))  # load the extension outside the measurement
    res["peak_extra_memory_8x1024_bytes"] = _extra_memory_bytes(lambda: ops.rasterize(pos, faces, (1024, 1024)))
    res["rast_output_bytes_8x1024"] = 8 * 1024 * 1024 * 4 * 4
    res["mesh_vertices"], res["mesh_triangles"] = int(verts.shape[0]), int(faces_np.shape[0])
    for size in (512, 1024):
        for views in (1, 8):
            pos, faces = body_clip(size, size, views, mesh_path)
            key = f"rasterize_fwd_{size}_{'1view' if views == 1 else '8views'}"
            res[key] = round(_median_ms(lambda: ops.rasterize(pos, faces, (size, size)), repeat), 4)
            if views == 1:
                rast = ops.rasterize(pos, faces, (size, size))
                res[f"coverage_{size}"] = round(float((rast[..., 3] > 0).float().mean()), 4)
        # full differentiable pipeline, 1 view, forward + backward
        pos, faces = body_clip(size, size, 1, mesh_path)
        attr = torch.rand(pos.shape[1], 8)
        topo = ops.edge_topology(faces, pos.shape[1])
        grad = torch.rand(1, size, size, 8)

        def pipeline():
            p = pos.detach().requires_grad_(True)
            a = attr.detach().requires_grad_(True)
            rast = ops.rasterize(p, faces, (size, size))
            col = ops.interpolate(a, rast, faces)
            out = ops.antialias(col, rast, p, faces, topo)
            out.backward(grad)

        res[f"pipeline_fwd_bwd_{size}"] = round(_median_ms(pipeline, repeat), 4)
    if with_open3d:
        for size in (512, 1024):
            o3d_ms = _open3d_ms(size, size, max(5, repeat // 3))
            res[f"open3d_raycast_{size}"] = None if o3d_ms is None else round(o3d_ms, 4)
            if o3d_ms is not None:
                res[f"speedup_vs_open3d_{size}"] = round(o3d_ms / res[f"rasterize_fwd_{size}_1view"], 2)
    met = {k: res[k] <= v for k, v in TARGETS_MS.items()}
    met["memory_8x1024"] = res["peak_extra_memory_8x1024_bytes"] <= MEMORY_TARGET_BYTES
    for size in (512, 1024):
        sp = res.get(f"speedup_vs_open3d_{size}")
        if sp is not None:
            met[f"open3d_speedup_{size}"] = sp >= OPEN3D_MIN_SPEEDUP
    res["targets_met"] = met
    res["all_targets_met"] = all(met.values())
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-open3d", action="store_true")
    args = parser.parse_args(argv)
    res = run_raster_bench(threads=args.threads, repeat=args.repeat, with_open3d=not args.no_open3d)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
