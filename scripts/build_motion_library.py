#!/usr/bin/env python
"""Build ``assets/motion/library.npz`` (+ ``library.json`` provenance) from the CMU clips.

    python scripts/build_motion_library.py [--cmu DIR] [--out assets/motion/library.npz]

Steps (deterministic; ~30 s on 2 CPU cores):

1. Retarget each clip used below to the canonical SMPL-22 skeleton at 30 fps
   (:func:`avatar3d.motion.retarget.retarget`).  cc_iclone clips are never read (licence caution,
   CMU README); 05_06 / 05_17 (flipped feet) are not used.
2. Cut units: walk cycles between left-toe touch-downs in the steady part of each walk (the two
   with the best loop seam per clip), jumps around each flight phase of 01_01 (in place: the
   flight's travel removed; and forward as they are), the wave of 141_16, the soccer kick of
   11_01, squats and jumping-jack cycles of 13_29-31, pirouettes of 05_02/05_11/05_13, and dance
   phrases of 93_04/05/08 and 19_15.
3. Derive: mirrored copies (other hand / leg / turning direction), walking backward by time
   reversal of the walk cycles, and keyframed units of :mod:`avatar3d.motion.authored` (idle,
   sit down, bow, squat, front kick) from a standing base pose averaged over quiet mocap frames.
4. Save the compact npz and a JSON listing every unit with its source clip and frame range.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar3d.motion import authored as au  # noqa: E402
from avatar3d.motion.canonical import load_canonical_skeleton  # noqa: E402
from avatar3d.motion.library import (  # noqa: E402
    LIBRARY_FPS, J, MotionLibrary, body_heading, close_loop, fk, make_unit, mirror_unit, normalise_start,
)
from avatar3d.motion.retarget import load_cmu_clip, retarget  # noqa: E402

log = logging.getLogger("build_motion_library")
FPS = LIBRARY_FPS
DEFAULT_CMU = ROOT.parent / "shared" / "mocap" / "cmu"

#: walk clips: (file, [t0, t1] steady part in seconds)
WALKS = [("02_01.bvh", (0.0, 2.9)), ("05_01.bvh", (0.3, 5.0)), ("06_01.bvh", (0.3, 4.1)),
         ("16_11.bvh", (0.0, 2.2)), ("08_04.amc", (0.0, 4.0))]
CYCLES_PER_WALK = 2
#: largest loop-seam error accepted for a walk cycle (joint-rotation + height + velocity mismatch)
MAX_SEAM = 0.5
#: jumps: 01_01 flight phases (two-footed forward jumps)
JUMP_CLIP = "01_01.bvh"
WAVE_CLIP = "141_16.bvh"
KICK_CLIP, KICK_WINDOW = "11_01.amc", (3.1, 4.9)
SQUATS = [("13_29.amc", (31.6, 34.6)), ("13_29.amc", (34.6, 37.6)), ("13_30.amc", (12.2, 14.3)),
          ("13_30.amc", (14.4, 16.6))]
JACKS = [("13_29.amc", (0.6, 3.9)), ("13_30.amc", (0.0, 1.5))]
SPINS = [("05_02.bvh", (4.5, 8.0)), ("05_11.bvh", (0.0, 4.9)), ("05_13.bvh", (0.0, 9.1))]
DANCES = [("93_04.amc", None), ("93_05.amc", None), ("93_08.amc", None), ("19_15.amc", (0.0, 5.0))]
#: quiet standing frames for the base pose: (file, t0, t1)
STANDING = [("11_01.amc", 1.1, 1.6), ("131_03.bvh", 0.0, 0.8)]


class Clips:
    """Retargeted clips at 30 fps, cached."""

    def __init__(self, folder: Path, rest: np.ndarray, skeleton) -> None:
        self.folder, self.rest, self.skeleton = folder, rest, skeleton
        self.cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.cache:
            clip = load_cmu_clip(self.folder / name)
            m = retarget(clip, self.skeleton, fps=FPS, dtype=torch.float64)
            self.cache[name] = (m.local_rotations.numpy().copy(), m.root_translation.numpy().copy())
            log.info("retargeted %s: %d frames", name, m.num_frames)
        return self.cache[name]

    def window(self, name: str, t0: float | None, t1: float | None) -> tuple[np.ndarray, np.ndarray, int, int]:
        q, root = self.get(name)
        a = 0 if t0 is None else max(0, int(round(t0 * FPS)))
        b = q.shape[0] if t1 is None else min(q.shape[0], int(round(t1 * FPS)))
        return q[a:b].copy(), root[a:b].copy(), a, b


def src(name: str, a: int, b: int) -> str:
    return f"cmu:{name}[{a}:{b}]@30fps"


def oneshot(clips: Clips, name: str, action: str, q, root, a, b, *, side=None, events=None, tags=(), unit_name=None,
            ops=()) -> object:
    q, root, _ = normalise_start(q, root, clips.rest)
    return make_unit(unit_name or f"{action}.{Path(name).stem}.{a}", action, "oneshot", q, root, clips.rest,
                     side=side, events=events, source=src(name, a, b), ops=ops, tags=tags)


# ---------------------------------------------------------------------------------- walks
def walk_cycles(clips: Clips, name: str, span: tuple[float, float]) -> list:
    q, root, a0, _ = clips.window(name, *span)
    pos = fk(q, root, clips.rest)
    # toe down: near the clip's own lowest toe height (floors differ by a few cm between subjects)
    toe = pos[:, J["left_foot"]]
    speed = np.linalg.norm(np.gradient(toe[:, [0, 2]], 1.0 / FPS, axis=0), axis=-1)
    c = (toe[:, 1] < np.percentile(toe[:, 1], 10) + 0.03) & (speed < 0.4)
    touch = [i for i in range(1, len(c)) if c[i] and not c[i - 1]]
    cands = []
    for i, k in zip(touch[:-1], touch[1:]):
        if not 24 <= k - i <= 60:
            continue
        if np.linalg.norm((root[k] - root[i])[[0, 2]]) / ((k - i) / FPS) < 0.55:
            continue   # starting or stopping
        travel = root[k] - root[i]
        facing = np.unwrap(body_heading(pos[i:k + 1]))
        off = math.degrees(np.mean(facing) - math.atan2(travel[0], travel[2]))
        if abs(off) > 8.0 or np.ptp(facing) > math.radians(25):
            continue   # not a straight walk (veering, or the body turned against the travel)
        # seam error: local joint rotations (not the root) + root height + root velocity
        dq = 1 - np.abs(np.sum(q[i, 1:] * q[k, 1:], -1))
        v_i = root[i + 1] - root[i - 1]
        v_k = root[min(k + 1, len(root) - 1)] - root[k - 1]
        err = float(dq.sum() + 10 * abs(root[i, 1] - root[k, 1]) + np.linalg.norm(v_i - v_k))
        cands.append((err, i, k))
    cands.sort()
    units = []
    for err, i, k in [c for c in cands if c[0] < MAX_SEAM][:CYCLES_PER_WALK]:
        cq, cr = q[i:k + 1].copy(), root[i:k + 1].copy()
        # turn so that the travel over the cycle points along +Z, origin at frame 0
        d = cr[-1] - cr[0]
        heading = math.atan2(d[0], d[2])
        cq, cr, _ = normalise_start(cq, cr, clips.rest, heading=heading)
        stride = float(np.hypot(*(cr[-1] - cr[0])[[0, 2]]))
        body = body_heading(fk(cq, cr, clips.rest))
        qq, rr = close_loop(cq[:-1], cr[:-1], cq[-1], cr[-1], np.array([0.0, stride]), 0.0)
        passes = pass_events(fk(qq, rr, clips.rest))
        u = make_unit(f"walk.{Path(name).stem}.{a0 + i}", "walk", "cycle", qq, rr, clips.rest,
                      stride_xz=(0.0, stride), events=passes, source=src(name, a0 + i, a0 + k),
                      ops=("loop_closed",), tags=("mocap",))
        log.info("walk cycle %s: %d frames, stride %.2f m, %.2f m/s, seam %.3f, facing %+.0f deg", u.name,
                 u.num_frames, stride, u.speed_m_s, err, math.degrees(float(np.mean(body))))
        units.append(u)
    return units


def pass_events(pos: np.ndarray) -> dict[str, tuple[float, ...]]:
    """Times the swing foot passes the stance foot (forward ankle distance changes sign)."""
    d = pos[:, J["left_ankle"], 2] - pos[:, J["right_ankle"], 2]
    out = {"pass_left": [], "pass_right": []}
    for i in range(1, len(d)):
        if d[i - 1] < 0 <= d[i]:
            out["pass_left"].append(i / FPS)   # the left foot moves ahead
        elif d[i - 1] > 0 >= d[i]:
            out["pass_right"].append(i / FPS)
    return {k: tuple(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------- jumps
def flights(pos: np.ndarray, rest: np.ndarray) -> list[tuple[int, int]]:
    lift = np.minimum(pos[:, J["left_foot"], 1] - rest[J["left_foot"], 1],
                      pos[:, J["right_foot"], 1] - rest[J["right_foot"], 1])
    air = lift > 0.05
    out, i = [], 0
    while i < len(air):
        if air[i]:
            k = i
            while k < len(air) and lift[k] > 0.02:
                k += 1
            s = i
            while s > 0 and lift[s - 1] > 0.02:
                s -= 1
            if k - s >= 3:
                out.append((s, k))
            i = k
        i += 1
    return out


def jump_units(clips: Clips) -> list:
    q, root = clips.get(JUMP_CLIP)
    pos = fk(q, root, clips.rest)
    units = []
    for s, k in flights(pos, clips.rest):
        a, b = s - int(0.8 * FPS), k + int(0.6 * FPS)
        if a < 0 or b > len(q):
            continue
        wq, wr = q[a:b].copy(), root[a:b].copy()
        # facing at take-off: straight jumps only
        hd = body_heading(pos[[a, s, k, b - 1]])
        if np.ptp(np.unwrap(hd)) > math.radians(25):
            continue
        wq, wr, _ = normalise_start(wq, wr, clips.rest)
        ts, tk = (s - a) / FPS, (k - a) / FPS
        ev = {"takeoff": (ts,), "landing": (tk,)}
        fwd = make_unit(f"jump_forward.{a}", "jump_forward", "oneshot", wq, wr, clips.rest, events=ev,
                        source=src(JUMP_CLIP, a, b), tags=("mocap",), stride_xz=(0.0, 0.0))
        # in place: remove the whole horizontal travel with a smooth ramp from just before the
        # take-off to just after the landing (the feet are re-planted by the cleanup IK)
        t = np.arange(b - a)
        t_a, t_b = (s - a) - 0.35 * FPS, (k - a) + 0.35 * FPS
        w = np.clip((t - t_a) / (t_b - t_a), 0, 1)
        w = w * w * (3 - 2 * w)
        travel = wr[-1] - wr[0]
        travel[1] = 0.0
        wr2 = wr - w[:, None] * travel
        inplace = make_unit(f"jump.{a}", "jump", "oneshot", wq, wr2, clips.rest, events=ev,
                            source=src(JUMP_CLIP, a, b), ops=("in_place",), tags=("mocap",))
        dist = float(np.hypot(*travel[[0, 2]]))
        fwd = replace(fwd, events={**ev, "distance_m": (dist,)})
        units += [inplace, fwd]
        log.info("jump %d..%d: flight %.2f s, travel %.2f m", a, b, (k - s) / FPS, dist)
    return units


# ---------------------------------------------------------------------------------- others
def wave_units(clips: Clips) -> list:
    q, root, a, b = clips.window(WAVE_CLIP, None, None)
    pos = fk(q, root, clips.rest)
    # oscillation of the right wrist, lateral relative to the shoulder (high-passed)
    lat = pos[:, J["right_wrist"], 0] - pos[:, J["right_shoulder"], 0]
    up = pos[:, J["right_wrist"], 1] > pos[:, J["right_shoulder"], 1] - 0.1
    idx = np.flatnonzero(up)
    t_up, t_down = idx[0] / FPS, idx[-1] / FPS
    hp = lat - np.convolve(np.pad(lat, 9, mode="edge"), np.ones(19) / 19, mode="valid")
    peaks = [i / FPS for i in range(1, len(hp) - 1)
             if up[i] and hp[i] > hp[i - 1] and hp[i] >= hp[i + 1] and hp[i] > 0.01]
    period = float(np.median(np.diff(peaks))) if len(peaks) > 2 else 0.45
    ev = {"raised": (t_up, t_down), "wave_peaks": tuple(peaks), "period": (period,)}
    u = oneshot(clips, WAVE_CLIP, "wave", q, root, a, b, side="right", events=ev, tags=("mocap",),
                unit_name="wave.141_16")
    log.info("wave: raised %.2f..%.2f s, %d peaks, period %.2f s", t_up, t_down, len(peaks), period)
    return [u, mirror_unit(u, "wave.141_16.m")]


def kick_units(clips: Clips) -> list:
    q, root, a, b = clips.window(KICK_CLIP, *KICK_WINDOW)
    # damp the approach momentum: remove most of the travel (feet are re-locked by the cleanup)
    travel = root[-1] - root[0]
    travel[1] = 0
    t = np.linspace(0, 1, len(root))
    root = root - 0.7 * (t * t * (3 - 2 * t))[:, None] * travel
    pos = fk(q, root, clips.rest)
    k = int(np.argmax(pos[:, J["right_ankle"], 1]))
    u = oneshot(clips, KICK_CLIP, "kick", q, root, a, b, side="right", events={"kick": (k / FPS,)},
                tags=("mocap", "soccer"), unit_name="kick.11_01", ops=("damped_travel",))
    return [u, mirror_unit(u, "kick.11_01.m")]


def squat_units(clips: Clips) -> list:
    out = []
    for name, (t0, t1) in SQUATS:
        q, root, a, b = clips.window(name, t0, t1)
        k = int(np.argmin(root[:, 1]))
        out.append(oneshot(clips, name, "squat", q, root, a, b, events={"bottom": (k / FPS,)}, tags=("mocap",)))
    return out


def jack_units(clips: Clips) -> list:
    out = []
    for name, (t0, t1) in JACKS:
        q, root, a, b = clips.window(name, t0, t1)
        pos = fk(q, root, clips.rest)
        fl = flights(pos, clips.rest)
        if len(fl) < 3:
            continue
        # one jack = two flights (out, in): cycle from take-off k to take-off k+2
        for i in range(0, len(fl) - 2, 2):
            s, e = fl[i][0], fl[i + 2][0]
            cq, cr = q[s:e + 1].copy(), root[s:e + 1].copy()
            cq, cr, _ = normalise_start(cq, cr, clips.rest)
            qq, rr = close_loop(cq[:-1], cr[:-1], cq[-1], cr[-1], np.zeros(2), 0.0)
            ev = {"takeoff": tuple((f[0] - s) / FPS for f in fl[i:i + 2]),
                  "landing": tuple((f[1] - s) / FPS for f in fl[i:i + 2])}
            out.append(make_unit(f"jumping_jacks.{Path(name).stem}.{a + s}", "jumping_jacks", "cycle", qq, rr,
                                 clips.rest, events=ev, source=src(name, a + s, a + e), ops=("loop_closed",),
                                 tags=("mocap",)))
            break
    return out


def spin_units(clips: Clips) -> list:
    out = []
    for name, (t0, t1) in SPINS:
        q, root, a, b = clips.window(name, t0, t1)
        pos = fk(q, root, clips.rest)
        hd = np.unwrap(body_heading(pos))
        best = None
        n = len(hd)
        for i in range(n):
            for k in range(i + 10, min(n, i + int(2.0 * FPS))):
                if abs(hd[k] - hd[i]) >= math.radians(330):
                    if best is None or k - i < best[1] - best[0]:
                        best = (i, k)
                    break
        if best is None:
            log.info("no full spin in %s", name)
            continue
        i, k = best
        i0, k0 = max(0, i - int(0.4 * FPS)), min(n, k + int(0.5 * FPS))
        turn = math.degrees(hd[k0 - 1] - hd[i0])
        u = oneshot(clips, name, "spin", q[i0:k0], root[i0:k0], a + i0, a + k0,
                    events={"spin": ((i - i0) / FPS, (k - i0) / FPS)}, tags=("mocap",),
                    unit_name=f"spin.{Path(name).stem}.{a + i0}")
        u = replace(u, turn_deg=turn)
        out += [u, mirror_unit(u)]
        log.info("spin %s: %.0f deg in %.2f s", u.name, turn, (k - i) / FPS)
    return out


def dance_units(clips: Clips) -> list:
    out = []
    for name, span in DANCES:
        q, root, a, b = clips.window(name, *(span or (None, None)))
        u = oneshot(clips, name, "dance", q, root, a, b, tags=("mocap",), unit_name=f"dance.{Path(name).stem}")
        out += [u]
    return out


def base_pose(clips: Clips) -> au.BasePose:
    qs, rs = [], []
    for name, t0, t1 in STANDING:
        q, root, _, _ = clips.window(name, t0, t1)
        # each clip's frames facing +Z at the origin
        q, root, _ = normalise_start(q, root, clips.rest)
        qs.append(q)
        rs.append(root)
    return au.base_pose_from_frames(np.concatenate(qs), np.concatenate(rs), clips.rest)


def authored_units(base: au.BasePose, rest: np.ndarray) -> list:
    rng = np.random.default_rng(7)
    out = []
    q, r = base.track(2)
    out.append(make_unit("stand.base", "stand", "oneshot", q, r, rest, source="authored:mean of quiet mocap frames "
                         + ", ".join(f"{n}[{a}-{b}s]" for n, a, b in STANDING), ops=("authored", "symmetrised"),
                         contacts=np.ones((2, 2), bool)))
    for k in range(2):
        out.append(au.track_to_unit(au.author_idle(base, 4.0 + k, rng=rng), f"idle.authored.{k}", "idle", "cycle", rest,
                                    source="authored:base pose + breathing/weight shift"))
    out.append(au.track_to_unit(au.author_sit_down(base), "sit_down.authored", "sit_down", "oneshot", rest,
                                source="authored:keyframes"))
    for k, d in enumerate((36.0, 45.0)):
        out.append(au.track_to_unit(au.author_bow(base, depth_deg=d), f"bow.authored.{k}", "bow", "oneshot", rest,
                                    source="authored:keyframes"))
    out.append(au.track_to_unit(au.author_squat(base), "squat.authored", "squat", "oneshot", rest,
                                source="authored:keyframes", tags=("authored",)))
    fk_r = au.track_to_unit(au.author_front_kick(base, "right"), "kick.front.authored", "kick", "oneshot", rest,
                            side="right", source="authored:keyframes + IK")
    out += [fk_r, mirror_unit(fk_r, "kick.front.authored.m")]
    return out


def build(cmu: Path, out: Path) -> MotionLibrary:
    sk = load_canonical_skeleton(dtype=torch.float64)
    rest = sk.rest_positions.numpy()
    clips = Clips(cmu, rest, sk)
    units = []
    for name, span in WALKS:
        units += walk_cycles(clips, name, span)
    walks = [u for u in units if u.action == "walk"]
    units += [mirror_unit(u) for u in walks]
    units += [au.reverse_unit(u, "walk_backward", u.name.replace("walk.", "walk_backward.")) for u in list(units)
              if u.action == "walk"]
    units += jump_units(clips)
    units += wave_units(clips)
    units += kick_units(clips)
    units += squat_units(clips)
    units += jack_units(clips)
    units += spin_units(clips)
    units += dance_units(clips)
    base = base_pose(clips)
    units += authored_units(base, rest)
    lib = MotionLibrary(units=tuple(units), rest=rest, info={
        "fps": FPS, "skeleton": "assets/motion/canonical_smpl22.json",
        "created": datetime.date.today().isoformat(), "command": "python scripts/build_motion_library.py",
        "credit": "Motion capture data: CMU Graphics Lab Motion Capture Database, mocap.cs.cmu.edu. "
                  "The database was created with funding from NSF EIA-0196217.",
        "clips": sorted(clips.cache)})
    lib.save(out)
    prov = {"schema": "avatar3d.motion_library/1", **lib.info, "summary": lib.summary(),
            "size_bytes": out.stat().st_size, "units": [u.meta() for u in lib.units]}
    out.with_suffix(".json").write_text(json.dumps(prov, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return lib


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmu", type=Path, default=DEFAULT_CMU if DEFAULT_CMU.exists() else Path("/work/shared/mocap/cmu"))
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "motion" / "library.npz")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    lib = build(args.cmu, args.out)
    s = lib.summary()
    print(json.dumps({"out": str(args.out), "size_bytes": args.out.stat().st_size, **s}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
