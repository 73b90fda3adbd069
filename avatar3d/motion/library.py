"""The motion library: short typed motion *units* on the canonical SMPL-22 skeleton.

A :class:`MotionUnit` is one action sample at :data:`LIBRARY_FPS` (30 fps): a loopable ``cycle``
(walk, run, sidestep, turn step, jumping jacks, idle, ...) or a ``oneshot`` (a jump, a kick, a
bow, ...), with its pose track in the canonical convention of :mod:`avatar3d.core.kinematics`
(local rotations as unit quaternions (w, x, y, z) ``[T, 22, 4]``, root (pelvis) translation
``[T, 3]`` in metres, world frame Y up) and per-unit features:

* ``contacts`` ``[T, 2]`` bool foot contacts (left, right toe joints) and their phases;
* cycles: ``stride_m`` (root travel per cycle, in the unit's own frame: ``stride_xz`` = (x = left,
  z = forward)), ``turn_deg`` per cycle (+ = left), ``speed_m_s``;
* events in seconds (``takeoff``/``landing`` of jumps, ``clap``, ``wave`` start/end and period,
  ``punch``/``kick`` extension peaks, ``hold`` start/end of sustained poses).

Every unit is normalised: frame 0 has the pelvis above the origin and the body (hip and shoulder
lines, the checker's definition) facing +Z; cycles are turned so their travel (or, for travel-free
cycles, their mean facing) points along their nominal direction.  A cycle's frame ``T`` (one past
the end) is frame 0 moved by ``stride_xz`` and turned by ``turn_deg``: the loop seam is closed by
:func:`close_loop` when the unit is made.

The units come from two places (``source`` says which): CMU mocap clips retargeted by
:mod:`avatar3d.motion.retarget` and cut by ``scripts/build_motion_library.py``, and units
:mod:`avatar3d.motion.authored` derives from them for actions the clips lack.  The shipped asset
``assets/motion/library.npz`` stores quaternions as int16 (1/32767 steps, ~0.004 deg), roots as
float32 and everything else as one JSON string; ``library.json`` beside it is the provenance.

The module also holds the small numpy toolkit the motion synthesis runs on (quaternions, forward
kinematics, headings, mirroring): numpy keeps a 10-s synthesis in milliseconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avatar3d.core.joints import SMPL22, SMPL22_PARENTS, mirror_name

#: Frame rate of every library unit (and of synthesised motion).
LIBRARY_FPS = 30.0
#: File of the shipped library under the assets folder.
LIBRARY_FILE = Path("motion") / "library.npz"
LIBRARY_SCHEMA = "avatar3d.motion_library/1"
#: int16 quaternion quantisation step.
QUAT_SCALE = 32767.0
KINDS = ("cycle", "oneshot")

J = {n: i for i, n in enumerate(SMPL22)}
PARENTS = np.array(SMPL22_PARENTS)
MIRROR_INDEX = np.array([SMPL22.index(mirror_name(n)) for n in SMPL22])
LEFT_TOE, RIGHT_TOE = J["left_foot"], J["right_foot"]
TOES = (LEFT_TOE, RIGHT_TOE)
ANKLES = (J["left_ankle"], J["right_ankle"])


# =====================================================================================
# quaternions (w, x, y, z), numpy, any leading shape
# =====================================================================================

def qnormalize(q: np.ndarray) -> np.ndarray:
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (apply b, then a)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], -1)


def qconj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]``."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def qexp(rv: np.ndarray) -> np.ndarray:
    """Rotation vector ``[..., 3]`` -> quaternion."""
    ang = np.linalg.norm(rv, axis=-1, keepdims=True)
    half = 0.5 * ang
    k = np.where(ang > 1e-8, np.sin(half) / np.maximum(ang, 1e-12), 0.5 - ang * ang / 48.0)
    return np.concatenate([np.cos(half), rv * k], -1)


def qlog(q: np.ndarray) -> np.ndarray:
    """Quaternion -> rotation vector ``[..., 3]`` (short arc)."""
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    ang = 2.0 * np.arctan2(s, q[..., :1])
    k = np.where(s > 1e-8, ang / np.maximum(s, 1e-12), 2.0)
    return v * k


def qslerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation along the short arc (``t`` broadcasts against ``[..., 1]``)."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim and t.shape[-1] != 1:
        t = t[..., None]
    d = np.sum(a * b, -1, keepdims=True)
    b = np.where(d < 0, -b, b)
    return qnormalize(qmul(a, qexp(t * qlog(qmul(qconj(a), b)))))


def qyaw(theta: np.ndarray | float) -> np.ndarray:
    """Rotation by ``theta`` radians about +Y (+ = turning +Z towards +X = a left turn)."""
    th = np.asarray(theta, dtype=np.float64)
    z = np.zeros_like(th)
    return np.stack([np.cos(0.5 * th), z, np.sin(0.5 * th), z], -1)


def qaxis(axis: tuple[float, float, float] | np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotation by ``angle`` radians about a fixed unit ``axis``."""
    ang = np.asarray(angle, dtype=np.float64)[..., None]
    return qexp(ang * np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis))


def q_to_mat(q: np.ndarray) -> np.ndarray:
    q = qnormalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def mat_to_q(m: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` rotation matrices -> quaternions (w >= 0)."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                  m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                  1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], -2)
    diag = np.stack([1 + tr, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                     1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                     1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)
    best = np.argmax(diag, -1)
    q = np.take_along_axis(cands, best[..., None, None], -2)[..., 0, :]
    q = qnormalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along ``axis`` (time) so consecutive samples are on one hemisphere."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    if q.shape[0] > 1:
        d = np.sum(q[1:] * q[:-1], -1)
        flips = np.cumsum(d < 0, axis=0) % 2
        q[1:] = np.where(flips[..., None] == 1, -q[1:], q[1:])
    return np.moveaxis(q, 0, axis)


def yaw_of(q: np.ndarray) -> np.ndarray:
    """Heading (radians, 0 = +Z, + = towards +X) of the +Z axis rotated by ``q``."""
    f = qrot(q, np.array([0.0, 0.0, 1.0]))
    return np.arctan2(f[..., 0], f[..., 2])


# =====================================================================================
# kinematics on the canonical skeleton
# =====================================================================================

def fk(q: np.ndarray, root: np.ndarray, rest: np.ndarray, with_rotations: bool = False):
    """Forward kinematics (core.kinematics convention) in numpy.

    Args:
        q: ``[T, 22, 4]`` local rotations (w, x, y, z).
        root: ``[T, 3]`` pelvis positions (metres).
        rest: ``[22, 3]`` rest joint positions of the skeleton.
    Returns:
        positions ``[T, 22, 3]``; with ``with_rotations`` also global rotations ``[T, 22, 3, 3]``.
    """
    m = q_to_mat(q)
    glob = np.empty_like(m)
    pos = np.empty(q.shape[:-1] + (3,))
    off = rest - rest[np.maximum(PARENTS, 0)]
    for j, p in enumerate(SMPL22_PARENTS):
        if p < 0:
            glob[..., j, :, :] = m[..., j, :, :]
            pos[..., j, :] = root
        else:
            glob[..., j, :, :] = glob[..., p, :, :] @ m[..., j, :, :]
            pos[..., j, :] = pos[..., p, :] + glob[..., p, :, :] @ off[j]
    return (pos, glob) if with_rotations else pos


def body_heading(pos: np.ndarray) -> np.ndarray:
    """Per-frame facing (radians, 0 = +Z, + = towards +X) from the hip and shoulder lines
    (motion_check's definition: forward = cross(left, up))."""
    def line(a: str, b: str) -> np.ndarray:
        v = pos[..., J[a], :] - pos[..., J[b], :]
        v = v[..., [0, 2]]
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    a = line("left_hip", "right_hip") + line("left_shoulder", "right_shoulder")
    return np.arctan2(-a[..., 1], a[..., 0])


def rotate_track(q: np.ndarray, root: np.ndarray, theta: float, pivot_xz: np.ndarray | None = None):
    """Turn a whole track by ``theta`` radians about the vertical through ``pivot_xz``
    (default: the origin).  Returns new (q, root)."""
    r = qyaw(theta)
    q = q.copy()
    q[:, 0] = qmul(np.broadcast_to(r, q[:, 0].shape), q[:, 0])
    piv = np.zeros(3) if pivot_xz is None else np.array([pivot_xz[0], 0.0, pivot_xz[1]])
    root = qrot(np.broadcast_to(r, root.shape[:-1] + (4,)), root - piv) + piv
    return q, root


def normalise_start(q: np.ndarray, root: np.ndarray, rest: np.ndarray, frame: int = 0,
                    heading: float | None = None):
    """Move/turn a track so the pelvis of ``frame`` is above the origin and the body faces +Z
    there (``heading`` overrides the measured facing).  Returns (q, root, removed_heading)."""
    if heading is None:
        heading = float(body_heading(fk(q[frame:frame + 1], root[frame:frame + 1], rest))[0])
    root = root - np.array([root[frame, 0], 0.0, root[frame, 2]])
    q, root = rotate_track(q, root, -heading)
    return q, root, heading


def mirror_track(q: np.ndarray, root: np.ndarray):
    """Mirror left <-> right (reflection x -> -x); the canonical rest skeleton is symmetric."""
    qm = q[:, MIRROR_INDEX] * np.array([1.0, 1.0, -1.0, -1.0])
    rm = root * np.array([-1.0, 1.0, 1.0])
    return qm, rm


def close_loop(q: np.ndarray, root: np.ndarray, q_next: np.ndarray, root_next: np.ndarray,
               stride_xz: np.ndarray, turn: float):
    """Spread the seam mismatch of a cycle over its frames (linearly in time).

    ``q_next``/``root_next`` is the frame right after the cycle; after the correction frame 0
    moved by ``stride_xz`` and turned by ``turn`` equals it, so the cycle loops seamlessly.
    """
    t = q.shape[0]
    w = (np.arange(t) / t)[:, None]
    # target "frame T" = frame 0 advanced by one cycle
    q0, r0 = rotate_track(q[:1], root[:1], turn)
    r0 = r0 + np.array([stride_xz[0], 0.0, stride_xz[1]])
    # joints other than the root: local offsets; root: global (already in q0[:, 0])
    off = qlog(qmul(qconj(q_next), q0[0]))  # [22, 3], right-multiplied offset
    q = qmul(q, qexp(w[..., None] * off[None]))
    root = root + w * (r0[0] - root_next)
    return continuous(q), root


# =====================================================================================
# units
# =====================================================================================

@dataclass(frozen=True)
class MotionUnit:
    """One library unit (see the module docstring).

    Attributes:
        name: unique id, e.g. ``"walk.05_01.c0"`` or ``"sit_down.authored"``.
        action: plan action it performs (:data:`avatar3d.motion.plan.ACTIONS`), or an internal
            variant (``walk_backward``, ``sidestep``, ``turn_step``, ``jump_forward``).
        kind: ``"cycle"`` | ``"oneshot"``.
        side: ``"left"`` | ``"right"`` | ``"both"`` | None - the limb doing a one-sided action.
        fps: frames per second (:data:`LIBRARY_FPS`).
        q: ``[T, 22, 4]`` float local rotations (w, x, y, z), canonical convention.
        root: ``[T, 3]`` pelvis position (metres, world frame, unit normalised).
        contacts: ``[T, 2]`` bool contacts of the (left, right) toe joints.
        stride_xz: cycles: root travel per cycle (x = left, z = forward), metres.
        turn_deg: cycles: heading change per cycle (+ = left); oneshots: over the unit.
        events: name -> times in seconds (see the module docstring).
        source: ``"cmu:05_01.bvh[123:160]"`` or ``"authored:<how>"``.
        ops: how it was derived (``mirror``, ``reverse``, ``in_place``, ``loop_closed`` ...).
        tags: free labels (``stylized``, ``in_place``, ...).
    """

    name: str
    action: str
    kind: str
    side: str | None
    fps: float
    q: np.ndarray
    root: np.ndarray
    contacts: np.ndarray
    stride_xz: tuple[float, float] = (0.0, 0.0)
    turn_deg: float = 0.0
    events: dict[str, tuple[float, ...]] = field(default_factory=dict)
    source: str = ""
    ops: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unit {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        t = self.q.shape[0]
        if self.q.shape != (t, 22, 4) or self.root.shape != (t, 3) or self.contacts.shape != (t, 2):
            raise ValueError(f"unit {self.name}: q {self.q.shape}, root {self.root.shape}, contacts "
                             f"{self.contacts.shape} must be [T, 22, 4], [T, 3], [T, 2] with one T")
        if t < 2:
            raise ValueError(f"unit {self.name}: needs >= 2 frames, got {t}")

    @property
    def num_frames(self) -> int:
        return int(self.q.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def stride_m(self) -> float:
        """Length of the root travel per cycle (0 for oneshots and travel-free cycles)."""
        return float(math.hypot(*self.stride_xz)) if self.kind == "cycle" else 0.0

    @property
    def speed_m_s(self) -> float:
        return self.stride_m / self.duration_s if self.kind == "cycle" else 0.0

    def contact_phases(self) -> list[tuple[str, float, float]]:
        """``(side, start_phase, end_phase)`` of each contact run, phases in [0, 1] of the unit."""
        out = []
        for k, side in enumerate(("left", "right")):
            c = self.contacts[:, k].astype(np.int8)
            d = np.diff(np.concatenate([[0], c, [0]]))
            for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
                out.append((side, a / self.num_frames, b / self.num_frames))
        return out

    def motion(self, skeleton=None):
        """The unit as a :class:`core.Motion` on ``skeleton`` (default: the canonical one)."""
        import torch

        from avatar3d.core import Motion
        from avatar3d.motion.canonical import load_canonical_skeleton

        skeleton = skeleton or load_canonical_skeleton()
        return Motion(fps=self.fps, skeleton=skeleton,
                      local_rotations=torch.as_tensor(qnormalize(self.q), dtype=skeleton.rest_positions.dtype),
                      root_translation=torch.as_tensor(self.root, dtype=skeleton.rest_positions.dtype),
                      contacts=torch.as_tensor(self.contacts.astype(bool)))

    def meta(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "kind": self.kind, "side": self.side, "fps": self.fps,
                "frames": self.num_frames, "stride_xz": [round(float(v), 5) for v in self.stride_xz],
                "turn_deg": round(float(self.turn_deg), 3),
                "events": {k: [round(float(x), 4) for x in v] for k, v in self.events.items()},
                "source": self.source, "ops": list(self.ops), "tags": list(self.tags)}


def detect_contacts(pos: np.ndarray, fps: float, rest: np.ndarray, height_m: float = 0.035,
                    speed_m_s: float = 0.35) -> np.ndarray:
    """``[T, 2]`` toe contacts: toe within ``height_m`` of its rest height (and not above the
    ground's lowest toe by more) and moving slower than ``speed_m_s`` horizontally."""
    out = np.zeros((pos.shape[0], 2), bool)
    for k, j in enumerate(TOES):
        y = pos[:, j, 1]
        v = np.linalg.norm(np.gradient(pos[:, j, [0, 2]], 1.0 / fps, axis=0), axis=-1) if pos.shape[0] > 1 \
            else np.zeros(pos.shape[0])
        out[:, k] = (y < rest[j, 1] + height_m) & (v < speed_m_s)
    return out


def make_unit(name: str, action: str, kind: str, q: np.ndarray, root: np.ndarray, rest: np.ndarray, *,
              side: str | None = None, fps: float = LIBRARY_FPS, stride_xz=(0.0, 0.0), turn_deg: float = 0.0,
              events: dict | None = None, source: str = "", ops: tuple[str, ...] = (),
              tags: tuple[str, ...] = (), contacts: np.ndarray | None = None) -> MotionUnit:
    """Build a unit, detecting contacts from its FK when not given."""
    q = continuous(qnormalize(np.asarray(q, dtype=np.float64)))
    root = np.asarray(root, dtype=np.float64)
    if contacts is None:
        contacts = detect_contacts(fk(q, root, rest), fps, rest)
    return MotionUnit(name=name, action=action, kind=kind, side=side, fps=fps, q=q, root=root,
                      contacts=np.asarray(contacts, bool), stride_xz=(float(stride_xz[0]), float(stride_xz[1])),
                      turn_deg=float(turn_deg),
                      events={k: tuple(float(x) for x in v) for k, v in (events or {}).items()},
                      source=source, ops=tuple(ops), tags=tuple(tags))


def mirror_unit(unit: MotionUnit, name: str | None = None) -> MotionUnit:
    """The unit with left and right swapped (side, contacts, events named left/right, turns)."""
    q, root = mirror_track(unit.q, unit.root)
    swap = {"left": "right", "right": "left"}
    events = {}
    for k, v in unit.events.items():
        k2 = k.replace("left", "\0").replace("right", "left").replace("\0", "right")
        events[k2] = v
    return replace(unit, name=name or unit.name + ".m", side=swap.get(unit.side, unit.side), q=q, root=root,
                   contacts=unit.contacts[:, ::-1].copy(), stride_xz=(-unit.stride_xz[0], unit.stride_xz[1]),
                   turn_deg=-unit.turn_deg, events=events, ops=unit.ops + ("mirror",))


# =====================================================================================
# the library
# =====================================================================================

@dataclass(frozen=True)
class MotionLibrary:
    """A set of units on one skeleton (``rest`` ``[22, 3]`` metres) with their provenance."""

    units: tuple[MotionUnit, ...]
    rest: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [u.name for u in self.units]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate unit names: {dup}")
        if np.asarray(self.rest).shape != (22, 3):
            raise ValueError(f"rest must be [22, 3], got {np.asarray(self.rest).shape}")

    def __len__(self) -> int:
        return len(self.units)

    def get(self, name: str) -> MotionUnit:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"no unit {name!r} in the library ({len(self.units)} units)")

    def find(self, action: str, side: str | None = None, kind: str | None = None,
             tags: tuple[str, ...] = (), exclude_tags: tuple[str, ...] = ()) -> list[MotionUnit]:
        """Units of ``action`` (and ``side`` / ``kind`` / all ``tags`` when given), in library order."""
        out = []
        for u in self.units:
            if u.action != action or (kind and u.kind != kind):
                continue
            if side is not None and u.side not in (side, None, "both") and side != "both":
                continue
            if side == "both" and u.side not in ("both", None):
                continue
            if any(t not in u.tags for t in tags) or any(t in u.tags for t in exclude_tags):
                continue
            out.append(u)
        return out

    def actions(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in self.units:
            out[u.action] = out.get(u.action, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        return {"units": len(self.units), "frames": int(sum(u.num_frames for u in self.units)),
                "seconds": round(sum(u.duration_s for u in self.units), 1), "per_action": self.actions()}

    # ---- storage
    def save(self, path: str | Path) -> Path:
        """Write the compact npz (int16 quaternions, float32 roots, uint8 contacts, JSON metadata)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        q = np.concatenate([continuous(u.q) for u in self.units], 0)
        q = np.round(np.clip(q, -1.0, 1.0) * QUAT_SCALE).astype(np.int16)
        root = np.concatenate([u.root for u in self.units], 0).astype(np.float32)
        contacts = np.concatenate([u.contacts for u in self.units], 0).astype(np.uint8)
        offsets = np.cumsum([0] + [u.num_frames for u in self.units]).astype(np.int64)
        meta = {"schema": LIBRARY_SCHEMA, "units": [u.meta() for u in self.units], "info": self.info}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, q=q, root=root, contacts=contacts, offsets=offsets,
                            rest=np.asarray(self.rest, np.float32), meta=np.array(json.dumps(meta)))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MotionLibrary:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"motion library {path} is missing; run scripts/build_motion_library.py")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("schema") != LIBRARY_SCHEMA:
                raise ValueError(f"{path}: schema {meta.get('schema')!r}, expected {LIBRARY_SCHEMA!r}")
            q = z["q"].astype(np.float64) / QUAT_SCALE
            root = z["root"].astype(np.float64)
            contacts = z["contacts"].astype(bool)
            offsets = z["offsets"]
            rest = z["rest"].astype(np.float64)
        units = []
        for k, m in enumerate(meta["units"]):
            a, b = int(offsets[k]), int(offsets[k + 1])
            units.append(MotionUnit(
                name=m["name"], action=m["action"], kind=m["kind"], side=m["side"], fps=float(m["fps"]),
                q=qnormalize(q[a:b]), root=root[a:b], contacts=contacts[a:b],
                stride_xz=tuple(m["stride_xz"]), turn_deg=float(m["turn_deg"]),
                events={e: tuple(v) for e, v in m["events"].items()}, source=m["source"],
                ops=tuple(m["ops"]), tags=tuple(m["tags"])))
        return cls(units=tuple(units), rest=rest, info=meta.get("info", {}))


def library_path() -> Path:
    from avatar3d.motion.canonical import assets_dir

    return assets_dir() / LIBRARY_FILE


@lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float) -> MotionLibrary:
    return MotionLibrary.load(path)


def load_library(path: str | Path | None = None) -> MotionLibrary:
    """The shipped library (cached per file and modification time)."""
    p = Path(path) if path is not None else library_path()
    if not p.exists():
        raise FileNotFoundError(f"motion library {p} is missing; run scripts/build_motion_library.py")
    return _load_cached(str(p.resolve()), p.stat().st_mtime)
