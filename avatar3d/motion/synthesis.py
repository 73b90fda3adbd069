"""Motion synthesis: a :class:`~avatar3d.motion.plan.MotionPlan` -> a :class:`core.Motion`.

Pipeline (numpy; a 10-s motion takes a few tens of milliseconds on one core):

1. **Per group** of the plan (groups run in order; the steps of a group at the same time), one
   *clip* is generated in its own frame (pelvis over the origin, facing +Z at its first frame):

   * the group's full-body step (locomotion, jump, kick, posture, ...) by its generator below;
   * upper-body gestures of the same group (wave, clap, punch, raise arms) are **layered** onto it
     through joint masks (the gesture arm chains take the gesture's local rotations, faded in and
     out), stretched or looped to the base clip's length; a gesture alone plays on the standing
     body;
   * two full-body steps in one group cannot both happen: the second runs after the first (warning).
2. **Unit selection by motion matching**: among the library units that perform the action (same
   side, direction, turning sense), the cost of entering each one - pose and velocity features
   (feet, knees, wrists, head relative to the pelvis, in the heading frame) of the previous clip's
   last frame against the unit's entry frames (every foot-passing phase for cycles) - ranks the
   candidates; the seed picks among those within a small margin of the best (varied across seeds,
   never a bad transition).
3. **Exact quantities**: walk cycles are looped (seam-closed at build time) and time-warped to a
   whole number of half-cycles, then the root travel is scaled so a walk of D metres moves the
   pelvis exactly D metres (the feet are re-planted by the cleanup IK); steps-based walks take that
   many steps; circles and turn angles steer the root heading in proportion to the distance
   travelled, so heading changes are exact; counts repeat units (jumps, kicks, squats, claps ...)
   and wave cycles loop the oscillating part of the wave with pose-matched jumps.
4. **Assembly**: each clip is turned to the current heading and placed where the previous clip
   ended; the pose and velocity mismatch at the seam is removed by **inertialization** (a quintic
   offset decaying to zero over :attr:`SynthesisConfig.blend_s`, D. Bollo 2016), so clips keep
   their own timing and travel.  A short standing lead-in and settle-out frame the motion.
5. **Cleanup** (:mod:`avatar3d.motion.cleanup`): light zero-phase smoothing, foot contacts,
   foot locking by two-bone IK, no ground penetration.
6. **Normalisation**: the result starts with the pelvis above the origin facing +Z (the body's
   hip/shoulder facing, as motion_check measures it).

Limits: :data:`MAX_DURATION_S` (60 s, :data:`MAX_FRAMES` at 30 fps) - longer plans are cut at the
cap with a warning, and every generator sizes its arrays from the frames still available before
allocating, so absurd quantities can neither hang nor exhaust memory.  Deterministic: the same
plan, library and seed give the same motion bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from avatar3d.motion import authored as au
from avatar3d.motion.cleanup import CleanupConfig, cleanup_track
from avatar3d.motion.library import (
    LIBRARY_FPS, J, MotionLibrary, MotionUnit, body_heading, continuous, fk, load_library, qconj, qexp, qlog,
    qmul, qnormalize, qrot, qslerp, qyaw, yaw_of,
)
from avatar3d.motion.plan import ActionStep, MotionPlan

log = logging.getLogger(__name__)

#: Longest motion synthesised (seconds); plans beyond it are cut here with a warning.
MAX_DURATION_S = 60.0
#: Hard cap on frames (MAX_DURATION_S at 30 fps).
MAX_FRAMES = int(MAX_DURATION_S * LIBRARY_FPS)

#: Upper-body gestures that can be layered over another action.
GESTURES = ("wave", "clap", "punch", "raise_arms")
ARM_JOINTS = {s: tuple(J[f"{s}_{p}"] for p in ("collar", "shoulder", "elbow", "wrist")) for s in ("left", "right")}
#: Action -> what its quantities mean for locomotion.
LOCOMOTION = ("walk", "run")


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of :func:`synthesize` (seconds, metres)."""

    max_duration_s: float = MAX_DURATION_S
    blend_s: float = 0.3
    lead_in_s: float = 0.3
    settle_s: float = 0.6
    match_margin: float = 0.25
    timing_variation: float = 0.05
    cleanup: CleanupConfig = CleanupConfig()


@dataclass(frozen=True)
class Segment:
    """Where one step of the plan ended up: ``action`` from ``t0`` to ``t1`` seconds, made from
    ``units`` (library unit names or ``authored:...``), ``layer`` True for a layered gesture."""

    action: str
    t0: float
    t1: float
    units: tuple[str, ...] = ()
    group: int = 0
    layer: bool = False


@dataclass(frozen=True)
class SynthesisResult:
    """The synthesised :class:`core.Motion` with what was used to make it.

    Attributes:
        motion: canonical-skeleton motion at 30 fps, starting at the origin facing +Z, with
            ``contacts`` ``[T, 2]`` (left, right toe).
        segments: one :class:`Segment` per plan step (and the lead-in / settle).
        warnings: what could not be done as asked (cut at the duration cap, ...).
        seed: the seed used.
        timings_s: ``{"generate", "cleanup", "total"}`` seconds.
    """

    motion: object
    segments: tuple[Segment, ...]
    warnings: tuple[str, ...]
    seed: int
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.motion.num_frames / self.motion.fps)


# =====================================================================================
# clips and assembly
# =====================================================================================

@dataclass
class Clip:
    """A generated piece in its own frame (starts over the origin facing +Z).

    ``end_heading`` is the heading change (radians, + = left) the piece is meant to make; the
    assembler turns the following pieces by it (the actual body facing may wobble around it)."""

    q: np.ndarray
    root: np.ndarray
    action: str
    units: tuple[str, ...] = ()
    end_heading: float = 0.0
    contacts: np.ndarray | None = None
    no_lock: np.ndarray | None = None
    blend_s: float | None = None
    posture: str = "stand"

    @property
    def n(self) -> int:
        return int(self.q.shape[0])

    def cut(self, n: int) -> Clip:
        n = max(1, min(n, self.n))
        return Clip(self.q[:n], self.root[:n], self.action, self.units, self.end_heading,
                    None if self.contacts is None else self.contacts[:n],
                    None if self.no_lock is None else self.no_lock[:n], self.blend_s, self.posture)


def quintic_decay(x0: np.ndarray, v0: np.ndarray, n: int, fps: float) -> np.ndarray:
    """Inertialization offsets ``[n, ...]``: start at ``x0`` with velocity ``v0`` (per second),
    reach zero with zero velocity and acceleration after ``n`` frames (Bollo 2016)."""
    T = n / fps
    t = (np.arange(n) / fps).reshape((n,) + (1,) * np.ndim(x0))
    # keep the offset from overshooting far: limit the velocity term
    v0 = np.clip(v0, -np.abs(x0) * 8.0 / T - 2.0, np.abs(x0) * 8.0 / T + 2.0)
    A = -(6 * v0 * T + 12 * x0) / (2 * T ** 5)
    B = (16 * v0 * T + 30 * x0) / (2 * T ** 4)
    C = -(12 * v0 * T + 20 * x0) / (2 * T ** 3)
    return A * t ** 5 + B * t ** 4 + C * t ** 3 + v0 * t + x0


def inertialize(q: np.ndarray, root: np.ndarray, q_prev: np.ndarray, root_prev: np.ndarray, n_blend: int,
                fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Blend the start of (``q [T, 22, 4]``, ``root [T, 3]``) from the two frames before it
    (``q_prev [2, 22, 4]``, ``root_prev [2, 3]``, last one last) by decaying offsets."""
    t = q.shape[0]
    n = min(n_blend, t)
    if n < 2:
        return q, root
    q = q.copy()
    root = root.copy()
    # rotations: left offsets (parent frame); velocities from the last two frames of each side
    r0 = qlog(qmul(q_prev[-1], qconj(q[0])))
    w_prev = qlog(qmul(q_prev[-1], qconj(q_prev[-2]))) * fps
    w_new = qlog(qmul(q[1], qconj(q[0]))) * fps if t > 1 else np.zeros_like(r0)
    off = quintic_decay(r0, w_prev - w_new, n, fps)
    q[:n] = qmul(qexp(off), q[:n])
    x0 = root_prev[-1] - root[0]
    v_prev = (root_prev[-1] - root_prev[-2]) * fps
    v_new = (root[1] - root[0]) * fps if t > 1 else np.zeros(3)
    root[:n] += quintic_decay(x0, v_prev - v_new, n, fps)
    return continuous(q), root


class Assembler:
    """Concatenates clips: turns each to the running heading, puts it where the last one ended,
    inertializes the seam.  Never grows past ``max_frames``."""

    def __init__(self, fps: float, blend_s: float, max_frames: int) -> None:
        self.fps, self.blend_s, self.max_frames = fps, blend_s, max_frames
        self.q: list[np.ndarray] = []
        self.root: list[np.ndarray] = []
        self.contacts: list[np.ndarray] = []
        self.no_lock: list[np.ndarray] = []
        self.heading = 0.0
        self.frames = 0
        self.segments: list[Segment] = []
        self.truncated = False

    @property
    def budget(self) -> int:
        return self.max_frames - self.frames

    def last_frames(self, k: int = 2) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.q:
            return None
        qs = np.concatenate(self.q[-2:], 0)[-k:]
        rs = np.concatenate(self.root[-2:], 0)[-k:]
        if qs.shape[0] < k:
            qs = np.concatenate([np.repeat(qs[:1], k - qs.shape[0], 0), qs], 0)
            rs = np.concatenate([np.repeat(rs[:1], k - rs.shape[0], 0), rs], 0)
        return qs, rs

    def add(self, clip: Clip, group: int = 0, layer_segments: tuple[Segment, ...] = ()) -> None:
        if self.budget <= 0:
            self.truncated = True
            return
        if clip.n > self.budget:
            clip = clip.cut(self.budget)
            self.truncated = True
        q, root = clip.q.copy(), clip.root.copy()
        # turn to the running heading, place at the last pelvis position
        rot = qyaw(self.heading)
        q[:, 0] = qmul(np.broadcast_to(rot, q[:, 0].shape), q[:, 0])
        root = qrot(np.broadcast_to(rot, root.shape[:-1] + (4,)), root)
        prev = self.last_frames(2)
        if prev is not None:
            root[:, [0, 2]] += prev[1][-1, [0, 2]] - root[0, [0, 2]]
            n_blend = int(round((clip.blend_s or self.blend_s) * self.fps))
            q, root = inertialize(q, root, prev[0], prev[1], n_blend, self.fps)
        t0 = self.frames / self.fps
        self.q.append(q)
        self.root.append(root)
        self.contacts.append(np.zeros((clip.n, 2), bool) if clip.contacts is None else clip.contacts.astype(bool))
        self.no_lock.append(np.zeros(clip.n, bool) if clip.no_lock is None else clip.no_lock.astype(bool))
        self.frames += clip.n
        self.heading += clip.end_heading
        t1 = self.frames / self.fps
        self.segments.append(Segment(clip.action, round(t0, 3), round(t1, 3), clip.units, group))
        for s in layer_segments:
            self.segments.append(Segment(s.action, round(t0 + s.t0, 3), round(min(t0 + s.t1, t1), 3), s.units,
                                         group, True))

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(self.q, 0), np.concatenate(self.root, 0), np.concatenate(self.contacts, 0),
                np.concatenate(self.no_lock, 0))


# =====================================================================================
# sampling units
# =====================================================================================

def sample_frames(q: np.ndarray, root: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses at fractional frame indices ``idx`` (clamped to the clip): slerp / lerp."""
    idx = np.clip(np.asarray(idx, dtype=np.float64), 0, q.shape[0] - 1)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, q.shape[0] - 1)
    w = (idx - i0)[:, None]
    qq = qslerp(q[i0], q[i1], w[:, :, None])
    rr = root[i0] + w * (root[i1] - root[i0])
    return qq, rr


def sample_cycle(unit: MotionUnit, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poses of a cycle unit at continuous frame indices ``idx`` (any value >= 0; loop k adds k
    strides and k turns)."""
    tc = unit.num_frames
    idx = np.asarray(idx, dtype=np.float64)
    k0 = np.floor(idx / tc)
    f = idx - k0 * tc
    i0 = np.floor(f).astype(int)
    w = (f - i0)[:, None]
    i1 = i0 + 1
    wrap = i1 >= tc
    i1m = np.where(wrap, 0, i1)
    turn = math.radians(unit.turn_deg)
    stride = np.array([unit.stride_xz[0], 0.0, unit.stride_xz[1]])

    def placed(i: np.ndarray, k: np.ndarray):
        qq = unit.q[i].copy()
        rr = unit.root[i].copy()
        if turn != 0.0 or np.any(stride != 0):
            # loop k: frame advanced by k strides, turned by k turns (stride in the loop's frame)
            yaw = k * turn
            r = qyaw(yaw)
            qq[:, 0] = qmul(r, qq[:, 0])
            offs = np.zeros((len(k), 3))
            if turn == 0.0:
                offs = k[:, None] * stride
            else:
                for kk in np.unique(k):
                    acc = np.zeros(3)
                    for m in range(int(kk)):
                        acc = acc + qrot(qyaw(m * turn), stride)
                    offs[k == kk] = acc
            rr = qrot(r, rr) + offs
        return qq, rr

    qa, ra = placed(i0, k0)
    qb, rb = placed(i1m, k0 + wrap)
    return qslerp(qa, qb, w[:, :, None]), ra + w * (rb - ra)


# =====================================================================================
# motion matching features
# =====================================================================================

FEATURE_JOINTS = [J[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot", "left_knee", "right_knee",
                                 "left_wrist", "right_wrist", "head")]


def pose_features(q: np.ndarray, root: np.ndarray, rest: np.ndarray, fps: float) -> np.ndarray:
    """``[T, F]`` features per frame: feature joints relative to the pelvis in its heading frame,
    and their velocities x 0.1 s (metres)."""
    pos = fk(q, root, rest)
    yaw = yaw_of(q[:, 0])
    rel = pos[:, FEATURE_JOINTS] - pos[:, :1]
    r = qyaw(-yaw)[:, None]
    rel = qrot(np.broadcast_to(r, rel.shape[:-1] + (4,)), rel)
    vel = np.gradient(rel, 1.0 / fps, axis=0) * 0.1 if rel.shape[0] > 1 else np.zeros_like(rel)
    rv = (pos[:, 0] - np.roll(pos[:, 0], 1, 0)) * fps * 0.1
    rv[0] = rv[1] if len(rv) > 1 else 0
    rv = qrot(qyaw(-yaw), rv)
    return np.concatenate([rel.reshape(len(rel), -1), vel.reshape(len(rel), -1), rv], -1)


class Features:
    """Per-unit feature cache for one library."""

    def __init__(self, library: MotionLibrary) -> None:
        self.lib = library
        self.cache: dict[str, np.ndarray] = {}

    def of(self, unit: MotionUnit) -> np.ndarray:
        f = self.cache.get(unit.name)
        if f is None:
            if unit.kind == "cycle":   # wrap so velocities are right at the seam
                q, r = sample_cycle(unit, np.arange(unit.num_frames + 2, dtype=np.float64))
                f = pose_features(q, r, self.lib.rest, unit.fps)[:unit.num_frames]
            else:
                f = pose_features(unit.q, unit.root, self.lib.rest, unit.fps)
            self.cache[unit.name] = f
        return f


# =====================================================================================
# the synthesiser
# =====================================================================================

class _Synth:
    def __init__(self, plan: MotionPlan, library: MotionLibrary, seed: int, config: SynthesisConfig) -> None:
        self.plan, self.lib, self.seed, self.cfg = plan, library, seed, config
        self.rng = np.random.default_rng(seed)
        self.fps = LIBRARY_FPS
        self.rest = library.rest
        self.warnings: list[str] = []
        cap = min(float(plan.max_duration_s or MAX_DURATION_S), config.max_duration_s, MAX_DURATION_S)
        self.max_frames = int(round(cap * self.fps))
        self.asm = Assembler(self.fps, config.blend_s, self.max_frames)
        self.feat = Features(library)
        stand = library.find("stand")
        if not stand:
            raise ValueError("the motion library has no 'stand' unit (base pose); rebuild it")
        u = stand[0]
        self.base = au.BasePose(q=u.q[0].copy(), root_y=float(u.root[0, 1]), rest=self.rest)
        self.posture = "stand"

    # ---------------------------------------------------------------- helpers
    def jitter(self, scale: float | None = None) -> float:
        s = self.cfg.timing_variation if scale is None else scale
        return float(1.0 + self.rng.uniform(-s, s))

    def budget_s(self) -> float:
        return max(self.asm.budget, 0) / self.fps

    def last_feature(self) -> np.ndarray | None:
        prev = self.asm.last_frames(3)
        if prev is None:
            return None
        q, r = prev
        # express in the heading the next clip starts with (clips are placed turned by asm.heading)
        return pose_features(q, r, self.rest, self.fps)[-1]

    def choose(self, cands: list[MotionUnit], entry: Callable[[MotionUnit], list[int]] | None = None,
               avoid: str | None = None) -> tuple[MotionUnit, int]:
        """Motion matching: (unit, entry frame) with the lowest feature distance to the last frame,
        the seed choosing among those within ``match_margin`` of the best."""
        if not cands:
            raise LookupError("no unit")
        f_last = self.last_feature()
        scored = []
        for u in cands:
            frames = entry(u) if entry is not None else [0]
            if f_last is None:
                scored += [(0.0, u, fr) for fr in frames]
                continue
            F = self.feat.of(u)
            for fr in frames:
                d = float(np.linalg.norm(F[min(fr, len(F) - 1)] - f_last))
                scored.append((d + (0.05 if u.name == avoid else 0.0), u, fr))
        best = min(s[0] for s in scored)
        ok = [s for s in scored if s[0] <= best * (1 + self.cfg.match_margin) + 0.03]
        pick = ok[int(self.rng.integers(len(ok)))]
        return pick[1], pick[2]

    def stand_clip(self, seconds: float, action: str = "idle") -> Clip:
        n = max(2, int(round(seconds * self.fps)))
        idle = self.lib.find("idle", kind="cycle")
        if idle:
            u = idle[int(self.rng.integers(len(idle)))]
            start = float(self.rng.uniform(0, u.num_frames))
            q, r = sample_cycle(u, start + np.arange(n))
            r = r - np.array([r[0, 0], 0.0, r[0, 2]])
            return Clip(q, r, action, (u.name,), contacts=np.ones((n, 2), bool))
        q, r = self.base.track(n)
        return Clip(q, r, action, ("stand.base",), contacts=np.ones((n, 2), bool))

    def hold_clip(self, seconds: float, action: str = "hold") -> Clip:
        """Hold the last pose (seated, ...) for ``seconds``."""
        prev = self.asm.last_frames(1)
        n = max(2, int(round(seconds * self.fps)))
        q = np.repeat(prev[0][-1:], n, 0)
        r = np.repeat(prev[1][-1:], n, 0)
        # undo the placement (clips are in their own frame)
        inv = qyaw(-self.asm.heading)
        q[:, 0] = qmul(np.broadcast_to(inv, q[:, 0].shape), q[:, 0])
        r = r - np.array([r[0, 0], 0.0, r[0, 2]])
        return Clip(q, r, action, ("hold",), contacts=np.ones((n, 2), bool), posture=self.posture)

    def from_track(self, tr: au.Track, action: str, units: tuple[str, ...], end_heading: float = 0.0,
                   no_lock=None, posture: str = "stand") -> Clip:
        r = tr.root - np.array([tr.root[0, 0], 0.0, tr.root[0, 2]])
        return Clip(tr.q, r, action, units, end_heading, tr.contacts, no_lock, posture=posture)

    def from_unit(self, u: MotionUnit, a: int = 0, b: int | None = None, rate: float = 1.0) -> Clip:
        b = u.num_frames if b is None else b
        n = max(2, int(round((b - a) / rate)))
        idx = a + np.arange(n) * rate
        q, r = sample_frames(u.q, u.root, idx)
        r = r - np.array([r[0, 0], 0.0, r[0, 2]])
        # turn so frame a faces +Z (units face +Z at frame 0 only)
        h = float(body_heading(fk(q[:1], r[:1], self.rest))[0]) if a > 0 else 0.0
        if h:
            rr = qyaw(-h)
            q[:, 0] = qmul(np.broadcast_to(rr, q[:, 0].shape), q[:, 0])
            r = qrot(np.broadcast_to(rr, r.shape[:-1] + (4,)), r)
        lo = np.clip(np.round(idx).astype(int), 0, u.num_frames - 1)
        return Clip(q, r, u.action, (u.name,), contacts=u.contacts[lo])

    # ---------------------------------------------------------------- generators
    def gen_walk(self, step: ActionStep, fill_frames: int | None = None) -> Clip:
        direction = step.direction or "forward"
        speed = float(np.clip(step.speed or 1.0, 0.5, 1.8))
        if step.action == "run" and direction == "forward":
            return self.gen_run(step)
        if direction in ("left", "right"):
            dist = step.path_length_m() or 1.0
            dist = min(dist, self.budget_s() * 0.35 * speed)
            tr = au.author_sidestep(self.base, dist, direction, rng=self.rng, speed=speed)
            return self.from_track(tr, "walk", ("authored:sidestep",))
        if direction == "in_place":
            n_steps = max(2, int(round((step.duration_s or 2.0) / 0.42)))
            tr = au.author_turn(self.base, 0.0, rng=self.rng, speed=speed, n_steps=min(n_steps, 200))
            return self.from_track(tr, "walk", ("authored:steps_in_place",))
        action = "walk_backward" if direction == "backward" else "walk"
        if step.action == "run":
            speed = max(speed, 1.5)
        cands = self.lib.find(action, kind="cycle")
        if not cands:
            raise LookupError(f"no {action} cycles in the library")
        turn_total = 0.0
        if direction == "circle":
            turn_total = math.radians(step.turn_deg if step.turn_deg is not None else 360.0)
            laps = max(1, int(step.count or 1))
            if step.turn_deg is None:
                turn_total *= laps
        elif step.turn_deg:
            turn_total = math.radians(step.turn_deg)

        def entries(u: MotionUnit) -> list[int]:
            ev = list(u.events.get("pass_left", ())) + list(u.events.get("pass_right", ()))
            return sorted({int(round(e * u.fps)) % u.num_frames for e in ev}) or [0]

        unit, f0 = self.choose(cands, entries)
        tc = unit.num_frames
        half_stride = unit.stride_m / 2.0
        if step.steps is not None and step.distance_m is None:
            n_half = max(1, int(step.steps) - 1)
            dist = None
        else:
            dist = step.path_length_m()
            if dist is None:
                dist = (step.duration_s or 2.0) * unit.speed_m_s * speed
            # round up (shorter strides are easy to plant; longer ones would need longer legs)
            n_half = max(1, int(math.ceil(dist / half_stride - 0.2)))
        # frames: whole half-cycles, time-warped by the speed (capped by the budget)
        rate = speed * self.jitter()
        n_half = min(n_half, int(self.budget_s() * self.fps * rate / (tc / 2.0)) + 1, 4 * MAX_FRAMES // max(tc, 1))
        pass_frames = np.array(entries(unit), dtype=float)
        # end on a passing frame: the one closest to n_half half-cycles later
        target_end = f0 + n_half * tc / 2.0
        k = np.floor(target_end / tc)
        options = np.concatenate([(k - 1) * tc + pass_frames, k * tc + pass_frames, (k + 1) * tc + pass_frames])
        f1 = float(options[np.argmin(np.abs(options - target_end))])
        if f1 <= f0:
            f1 = f0 + tc / 2.0
        n = max(2, int(round((f1 - f0) / rate)) + 1)
        idx = np.linspace(f0, f1, n)
        q, r = sample_cycle(unit, idx)
        r = r - np.array([r[0, 0], 0.0, r[0, 2]])
        # exact travel: scale the displacement along the travel axis
        travel_axis = np.array([unit.stride_xz[0], unit.stride_xz[1]])
        travel_axis = travel_axis / max(np.linalg.norm(travel_axis), 1e-9)
        prog = r[:, [0, 2]] @ travel_axis
        if dist is not None and abs(prog[-1]) > 1e-6:
            s = dist / abs(prog[-1])
            r[:, [0, 2]] += ((s - 1.0) * prog)[:, None] * travel_axis[None]
            prog = prog * s
        if turn_total != 0.0:
            q, r = steer(q, r, prog, turn_total)
        lo = (np.round(idx).astype(int)) % tc
        return Clip(q, r, "walk", (unit.name,), end_heading=turn_total, contacts=unit.contacts[lo], blend_s=0.35)

    def gen_run(self, step: ActionStep) -> Clip:
        speed = float(np.clip(step.speed or 1.0, 0.6, 1.8))
        dist = step.path_length_m()
        if dist is None:
            dist = (step.duration_s or 3.0) * 3.0 * speed
        dist = min(dist, max(self.budget_s() - 1.5, 0.5) * 3.0 * speed)
        if dist < 0.3:     # nothing to cover: running on the spot
            tr = au.author_turn(self.base, 0.0, rng=self.rng, speed=2.0, n_steps=max(2, int(round(2 * speed / 0.25))))
            return self.from_track(tr, "run", ("authored:steps_in_place",))
        tr = au.author_run(self.base, dist, rng=self.rng, speed=speed, max_frames=self.asm.budget)
        air = ~tr.contacts.any(1)
        turn = math.radians(step.turn_deg) if step.turn_deg else 0.0
        q, r = tr.q, tr.root
        if turn:
            q, r = steer(q, r, r[:, 2] - r[0, 2], turn)
        return Clip(q, r - np.array([r[0, 0], 0.0, r[0, 2]]), "run", ("authored:run",), turn, tr.contacts, air)

    def gen_turn(self, step: ActionStep) -> Clip:
        deg = step.turn_deg if step.turn_deg is not None else 90.0
        deg = float(np.clip(deg, -3600.0, 3600.0))
        max_steps = int(self.budget_s() / 0.42) + 2
        tr = au.author_turn(self.base, deg, rng=self.rng, speed=float(np.clip(step.speed or 1.0, 0.5, 2.0)),
                            max_steps=max_steps)
        return self.from_track(tr, "turn", ("authored:turn",), end_heading=math.radians(deg))

    def gen_spin(self, step: ActionStep) -> Clip:
        deg = step.turn_deg if step.turn_deg is not None else 360.0 * max(1, int(step.count or 1))
        deg = float(np.clip(deg, -3600.0, 3600.0))
        cands = [u for u in self.lib.find("spin") if np.sign(u.turn_deg) == np.sign(deg or 1.0)]
        if not cands:
            return self.gen_turn(step)
        # spins that do not overshoot the asked angle by much (the rest is added to the pelvis yaw)
        per = [u for u in cands if abs(u.turn_deg) <= 1.3 * abs(deg)]
        unit, _ = self.choose(per or cands)
        reps = max(1, int(round(abs(deg) / abs(unit.turn_deg))))
        reps = min(reps, max(1, int(self.budget_s() / unit.duration_s)))
        clips = []
        for i in range(reps):
            clips.append(self.from_unit(unit))
        clip = concat_clips(clips, self.fps, self.cfg.blend_s)
        # exact heading: spread the remaining angle over the spin
        pos = fk(clip.q, clip.root, self.rest)
        hd = np.unwrap(body_heading(pos))
        have = hd[-1] - hd[0]
        extra = math.radians(deg) - have
        w = np.clip(np.cumsum(np.abs(np.gradient(hd))) / max(np.sum(np.abs(np.gradient(hd))), 1e-9), 0, 1)
        rr = qyaw(extra * w)
        clip.q[:, 0] = qmul(rr, clip.q[:, 0])
        clip.end_heading = math.radians(deg)
        clip.action = "spin"
        return clip

    def repeat_units(self, action: str, count: int, cands: list[MotionUnit], trim: Callable | None = None,
                     rate: float = 1.0) -> Clip:
        clips, used = [], []
        last = None
        for i in range(max(1, count)):
            if self.budget_s() <= 0:
                break
            unit, _ = self.choose(cands, avoid=last)
            a, b = trim(unit, i, count) if trim is not None else (0, unit.num_frames)
            c = self.from_unit(unit, a, b, rate=rate * self.jitter())
            clips.append(c)
            used.append(unit.name)
            last = unit.name
            total = sum(x.n for x in clips)
            if total >= self.asm.budget:
                break
        clip = concat_clips(clips, self.fps, self.cfg.blend_s)
        clip.action, clip.units = action, tuple(used)
        return clip

    def gen_jump(self, step: ActionStep) -> Clip:
        count = max(1, int(step.count or 1))
        hop = step.action == "hop"
        forward = step.direction in ("forward",) and (step.distance_m or 0) > 0
        cands = self.lib.find("jump_forward" if forward else "jump")
        if not cands:
            raise LookupError("no jump units")

        def trim(u: MotionUnit, i: int, n: int):
            to, la = u.events["takeoff"][0], u.events["landing"][0]
            a = 0 if i == 0 else max(0, int((to - 0.55) * u.fps))
            b = u.num_frames if i == n - 1 else min(u.num_frames, int((la + 0.4) * u.fps))
            return a, b

        clip = self.repeat_units(step.action, count, cands, trim, rate=1.25 if hop else 1.0)
        if forward:
            dist = float(step.distance_m)
            d = clip.root[-1, [0, 2]] - clip.root[0, [0, 2]]
            have = float(np.hypot(*d))
            if have > 1e-3:   # scale the travel to the asked distance (feet re-planted by the cleanup)
                clip.root[:, [0, 2]] += (clip.root[:, [0, 2]] - clip.root[:1, [0, 2]]) * (dist / have - 1.0)
        # flight phases: never lock the feet there
        pos = fk(clip.q, clip.root, self.rest)
        lift = np.minimum(pos[:, J["left_foot"], 1], pos[:, J["right_foot"], 1]) - self.rest[J["left_foot"], 1]
        clip.no_lock = lift > 0.04
        clip.contacts = None
        return clip

    def gen_kick(self, step: ActionStep) -> Clip:
        side = step.side if step.side in ("left", "right") else "right"
        cands = self.lib.find("kick", side=side)
        cands = [u for u in cands if u.side == side] or cands
        pref = [u for u in cands if "soccer" not in u.tags]
        clip = self.repeat_units("kick", max(1, int(step.count or 1)), pref or cands)
        clip.contacts = None
        return clip

    def gen_squat(self, step: ActionStep) -> Clip:
        clip = self.repeat_units("squat", max(1, int(step.count or 1)), self.lib.find("squat"))
        clip.contacts = None
        return clip

    def gen_bow(self, step: ActionStep) -> Clip:
        clip = self.repeat_units("bow", max(1, int(step.count or 1)), self.lib.find("bow"))
        return clip

    def gen_jacks(self, step: ActionStep) -> Clip:
        cands = self.lib.find("jumping_jacks", kind="cycle")
        unit, _ = self.choose(cands)
        count = max(1, int(step.count or (round((step.duration_s or 3.0) / unit.duration_s))))
        n = min(int(round(count * unit.num_frames / self.jitter())), self.asm.budget)
        idx = np.linspace(0, count * unit.num_frames, n, endpoint=False)
        q, r = sample_cycle(unit, idx)
        r = r - np.array([r[0, 0], 0.0, r[0, 2]])
        pos = fk(q, r, self.rest)
        lift = np.minimum(pos[:, J["left_foot"], 1], pos[:, J["right_foot"], 1]) - self.rest[J["left_foot"], 1]
        return Clip(q, r, "jumping_jacks", (unit.name,), no_lock=lift > 0.04)

    def gen_dance(self, step: ActionStep) -> Clip:
        dur = max(step.duration_s or 4.5, 3.5)
        dur = min(dur, self.budget_s())
        cands = self.lib.find("dance")
        clips, used, total, last = [], [], 0, None
        while total < dur * self.fps and len(clips) < 50:
            unit, _ = self.choose(cands, avoid=last)
            c = self.from_unit(unit)
            clips.append(c)
            used.append(unit.name)
            total += c.n
            last = unit.name
        clip = concat_clips(clips, self.fps, self.cfg.blend_s).cut(int(round(dur * self.fps)))
        clip.action, clip.units = "dance", tuple(used)
        return clip

    def gen_idle(self, step: ActionStep) -> Clip:
        seconds = min(step.duration_s or 2.0, self.budget_s())
        return self.hold_clip(seconds, "idle") if self.posture == "sit" else self.stand_clip(seconds)

    def gen_sit(self, step: ActionStep) -> Clip:
        tr = au.author_sit_down(self.base, rng=self.rng)
        hold = max((step.duration_s or 0.0) - 2.0, 1.2)
        n_hold = int(round(hold * self.fps))
        q = np.concatenate([tr.q, np.repeat(tr.q[-1:], n_hold, 0)])
        r = np.concatenate([tr.root, np.repeat(tr.root[-1:], n_hold, 0)])
        self.posture = "sit"
        return Clip(q, r - np.array([r[0, 0], 0.0, r[0, 2]]), "sit_down", ("authored:sit_down",),
                    contacts=np.ones((len(q), 2), bool), posture="sit")

    def gen_stand_up(self, step: ActionStep) -> Clip:
        tr = au.author_sit_down(self.base, rng=self.rng)
        q, r = tr.q[::-1].copy(), tr.root[::-1].copy()
        self.posture = "stand"
        return Clip(q, r - np.array([r[0, 0], 0.0, r[0, 2]]), "stand_up", ("authored:sit_down reversed",),
                    contacts=np.ones((len(q), 2), bool))

    # gestures (full body on the standing base, or as layers)
    def gen_gesture(self, step: ActionStep, fill_frames: int | None = None) -> tuple[Clip, tuple[int, ...]]:
        a = step.action
        side = step.side
        if a == "wave":
            side = side if side in ("left", "right", "both") else "right"
            clip = self.gen_wave(step, side, fill_frames)
            joints = ARM_JOINTS["left"] + ARM_JOINTS["right"] if side == "both" else ARM_JOINTS[side]
            return clip, joints
        if a == "clap":
            if fill_frames is not None:
                count = max(step.count or 0, int((fill_frames / self.fps - 0.9) / 0.5))
            else:
                count = step.count or 3
            count = max(1, min(int(count), int(self.budget_s() / 0.5)))
            tr = au.author_clap(self.base, count, rng=self.rng)
            return self.from_track(tr, "clap", ("authored:clap",)), ARM_JOINTS["left"] + ARM_JOINTS["right"]
        if a == "raise_arms":
            side = side if side in ("left", "right") else "both"
            hold = (fill_frames / self.fps - 1.7) if fill_frames is not None else (step.duration_s or 2.0)
            hold = float(np.clip(hold, 0.6, max(self.budget_s() - 1.7, 0.6)))
            tr = au.author_raise_arms(self.base, hold, side, rng=self.rng)
            joints = ARM_JOINTS["left"] + ARM_JOINTS["right"] if side == "both" else ARM_JOINTS[side]
            return self.from_track(tr, "raise_arms", ("authored:raise_arms",)), joints
        # punch
        count = max(1, min(int(step.count or 2), int(self.budget_s() / 0.55)))
        tr = au.author_punch(self.base, count, side if side in ("left", "right") else None, rng=self.rng)
        joints = ARM_JOINTS["left"] + ARM_JOINTS["right"] + (J["spine2"],)
        return self.from_track(tr, "punch", ("authored:punch",)), joints

    def gen_wave(self, step: ActionStep, side: str, fill_frames: int | None = None) -> Clip:
        """The mocap wave (141_16, or its mirror for the left hand): raise, wave ``count`` cycles
        (the oscillating part looped / shortened with pose-matched jumps), lower.  Only the arm
        is used (layered), so the legs stay those of the base it is layered on."""
        hand = "right" if side == "both" else side
        cands = [u for u in self.lib.find("wave") if u.side == hand]
        if not cands:
            raise LookupError(f"no wave unit for the {hand} hand")
        unit, _ = self.choose(cands)
        fps = unit.fps
        t_up, t_down = unit.events["raised"]
        period = unit.events.get("period", (0.45,))[0]
        a = int(round((t_up + 0.45) * fps))
        b = int(round((t_down - 0.3) * fps))
        c = min(unit.num_frames, int(round((t_down + 0.6) * fps)))
        head, tail = a, c - b
        min_sustain = int(round(2.6 * period * fps))
        if fill_frames is not None:
            sustain = max(fill_frames - head - tail, min_sustain)
        elif step.duration_s is not None and step.count is None:
            sustain = int(max(step.duration_s - (head + tail) / fps, 2.6 * period) * fps)
        else:
            cycles = max(float(step.count or 3), 2.6)
            sustain = int(round(cycles * period * fps))
        sustain = max(min(sustain, self.asm.budget - head - tail), min(min_sustain, b - a))
        F = self.feat.of(unit)
        seq = sustain_indices(F, a, b, sustain, min_loop=int(round(period * fps)))
        idx = np.concatenate([np.arange(a), np.array(seq), np.arange(b, c)]).astype(float)
        q, r = sample_frames(unit.q, unit.root, idx)
        q, r = smooth_jumps(q, r, idx, self.fps)
        r = r - np.array([r[0, 0], 0.0, r[0, 2]])
        clip = Clip(q, r, "wave", (unit.name,), contacts=np.ones((len(q), 2), bool))
        if side == "both":   # the other hand mirrors the waving arm
            from avatar3d.motion.library import mirror_track
            qm, _ = mirror_track(q, r)
            for j in ARM_JOINTS["left" if hand == "right" else "right"]:
                clip.q[:, j] = qm[:, j]
        return clip

    def gesture_min_frames(self, step: ActionStep) -> int:
        """Shortest clip a gesture needs to be recognisable (used to extend a shorter base)."""
        a = step.action
        if a == "wave":
            s = 0.75 + 2.8 * 0.42 + 0.9
        elif a == "clap":
            s = 0.9 + max(step.count or 2, 2) * 0.5
        elif a == "raise_arms":
            s = 1.7 + 0.8
        else:
            s = 0.8 + max(step.count or 1, 1) * 0.55
        return int(round(s * self.fps))

    # ---------------------------------------------------------------- groups
    def full_body(self, step: ActionStep) -> Clip:
        a = step.action
        if a in LOCOMOTION:
            return self.gen_walk(step)
        if a == "turn":
            return self.gen_turn(step)
        if a == "spin":
            return self.gen_spin(step)
        if a in ("jump", "hop"):
            return self.gen_jump(step)
        if a == "kick":
            return self.gen_kick(step)
        if a == "squat":
            return self.gen_squat(step)
        if a == "bow":
            return self.gen_bow(step)
        if a == "jumping_jacks":
            return self.gen_jacks(step)
        if a == "dance":
            return self.gen_dance(step)
        if a == "sit_down":
            return self.gen_sit(step)
        if a == "stand_up":
            return self.gen_stand_up(step)
        if a == "idle":
            return self.gen_idle(step)
        if a in GESTURES:
            g, joints = self.gen_gesture(step)
            base = self.hold_clip(g.n / self.fps, a) if self.posture == "sit" else self.stand_clip(g.n / self.fps, a)
            return layer_clip(base, g, joints, self.fps)
        raise ValueError(f"no generator for action {a!r}")

    def run_group(self, gi: int, steps: tuple[ActionStep, ...]) -> None:
        body = [s for s in steps if s.action not in GESTURES]
        gestures = [s for s in steps if s.action in GESTURES]
        if not body:
            body, gestures = [gestures[0]], gestures[1:]
        # posture bookkeeping: sit -> anything but stand_up needs a stand up first
        first = body[0]
        if self.posture == "sit" and first.action not in ("stand_up", "idle", *GESTURES):
            self.warnings.append(f"group {gi + 1}: standing up before '{first.action}'")
            self.add(self.gen_stand_up(ActionStep("stand_up")), gi)
        if first.action == "stand_up" and self.posture != "sit":
            if self.asm.frames <= int(self.cfg.lead_in_s * self.fps) + 1:
                # the motion starts seated: sit already
                self.add(self.hold_seated(), gi)
            else:
                self.warnings.append(f"group {gi + 1}: already standing; 'stand_up' skipped")
                return
        clip = self.full_body(first)
        layer_segs = []
        if gestures and clip.n > 1:
            need = max(self.gesture_min_frames(g) for g in gestures)
            if clip.n < need and self.posture == "stand":
                # the gesture outlasts the base action: keep standing until it is done
                tail = self.stand_clip((need - clip.n) / self.fps)
                clip = concat_clips([clip, tail], self.fps, self.cfg.blend_s, keep=clip)
            for g in gestures:
                gclip, joints = self.gen_gesture(g, fill_frames=clip.n)
                clip = layer_clip(clip, gclip, joints, self.fps)
                layer_segs.append(Segment(g.action, 0.0, gclip.n / self.fps, gclip.units, gi, True))
            if len(gestures) > 1:
                self.warnings.append(f"group {gi + 1}: several gestures layered at once")
        self.add(clip, gi, tuple(layer_segs))
        for extra in body[1:]:
            self.warnings.append(f"group {gi + 1}: '{first.action}' and '{extra.action}' cannot happen at the "
                                 f"same time; '{extra.action}' follows")
            self.add(self.full_body(extra), gi)

    def hold_seated(self) -> Clip:
        tr = au.author_sit_down(self.base, rng=None)
        n = int(round(1.0 * self.fps))
        q = np.repeat(tr.q[-1:], n, 0)
        r = np.repeat(tr.root[-1:], n, 0)
        self.posture = "sit"
        # replace the standing lead-in: the motion starts seated
        self.asm.q.clear(), self.asm.root.clear(), self.asm.contacts.clear(), self.asm.no_lock.clear()
        self.asm.segments.clear()
        self.asm.frames = 0
        return Clip(q, r - np.array([r[0, 0], 0.0, r[0, 2]]), "sit_down", ("authored:seated",),
                    contacts=np.ones((n, 2), bool), posture="sit")

    def add(self, clip: Clip, gi: int = 0, layers: tuple[Segment, ...] = ()) -> None:
        if clip.n > self.asm.budget:
            self.warnings.append(f"motion cut at the {self.max_frames / self.fps:.0f}-s cap (during '{clip.action}')")
        self.asm.add(clip, gi, layers)

    def run(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.add(self.stand_clip(self.cfg.lead_in_s, "lead_in"), -1)
        for gi, g in enumerate(self.plan.groups):
            if self.asm.budget <= 0:
                self.warnings.append(f"groups {gi + 1}..{len(self.plan.groups)} dropped: "
                                     f"{self.max_frames / self.fps:.0f}-s cap reached")
                break
            try:
                self.run_group(gi, g.steps)
            except LookupError as e:
                self.warnings.append(f"group {gi + 1}: {e}; skipped")
        if self.asm.budget > 0:
            settle = min(self.cfg.settle_s, self.asm.budget / self.fps)
            if self.posture == "sit":
                self.asm.add(self.hold_clip(settle, "settle"), -1)
            else:
                self.asm.add(self.stand_clip(settle, "settle"), -1)
        return self.asm.result()


# =====================================================================================
# clip utilities
# =====================================================================================

def steer(q: np.ndarray, root: np.ndarray, progress: np.ndarray, turn_total: float):
    """Bend a (mostly straight) track: the heading turns by ``turn_total`` radians in proportion to
    ``progress [T]`` (distance along the travel axis), the root path follows the new heading."""
    p = np.asarray(progress, dtype=np.float64)
    span = p[-1] - p[0]
    frac = (p - p[0]) / span if abs(span) > 1e-9 else np.linspace(0, 1, len(p))
    yaw = turn_total * frac
    d = np.diff(root[:, [0, 2]], axis=0)
    ymid = 0.5 * (yaw[1:] + yaw[:-1])
    c, s = np.cos(ymid), np.sin(ymid)
    dx = c * d[:, 0] + s * d[:, 1]
    dz = -s * d[:, 0] + c * d[:, 1]
    root = root.copy()
    root[1:, 0] = root[0, 0] + np.cumsum(dx)
    root[1:, 2] = root[0, 2] + np.cumsum(dz)
    q = q.copy()
    q[:, 0] = qmul(qyaw(yaw), q[:, 0])
    return q, root


def concat_clips(clips: list[Clip], fps: float, blend_s: float, keep: Clip | None = None) -> Clip:
    """Join clips into one (each placed where the previous ended and turned by the previous
    ones' heading changes, inertialized).  ``keep``: take action, blend and posture from it."""
    asm = Assembler(fps, blend_s, 10 * MAX_FRAMES)
    for c in clips:
        asm.add(c)
    q, r, con, nl = asm.result()
    r = r - np.array([r[0, 0], 0.0, r[0, 2]])
    ref = keep or clips[0]
    return Clip(q, r, ref.action, tuple(u for c in clips for u in c.units), asm.heading, con, nl, ref.blend_s,
                ref.posture)


def layer_clip(base: Clip, gesture: Clip, joints: tuple[int, ...], fps: float, fade_s: float = 0.3) -> Clip:
    """``base`` with ``joints`` taken from ``gesture`` (local rotations; the gesture is cut or
    held to the base length), faded in and out over ``fade_s``."""
    n = base.n
    g = gesture.q
    if g.shape[0] < n:
        g = np.concatenate([g, np.repeat(g[-1:], n - g.shape[0], 0)])
    g = g[:n]
    t = np.arange(n)
    f = max(1, int(round(fade_s * fps)))
    w = np.clip(np.minimum((t + 1) / f, (n - t) / f), 0, 1)
    w = w * w * (3 - 2 * w)
    q = base.q.copy()
    for j in joints:
        q[:, j] = qslerp(base.q[:, j], g[:, j], w[:, None])
    return Clip(q, base.root, base.action, base.units + gesture.units, base.end_heading, base.contacts,
                base.no_lock, base.blend_s, base.posture)


def sustain_indices(F: np.ndarray, a: int, b: int, length: int, min_loop: int = 6) -> list[int]:
    """Frame indices that fill ``length`` frames from the sustained part ``[a, b)`` of a unit
    whose features are ``F``: shortened by one pose-matched jump forward, or lengthened by
    pose-matched jumps back (loops); ends so that frame ``b`` follows naturally."""
    length = max(int(length), 1)
    span = b - a
    if span <= 1:
        return [a] * length
    if length <= span:
        # play a .. a+m-1, then jump to b-(length-m) .. b-1; pick the best-matching m
        lo, hi = max(1, length // 4), max(2, length - length // 4)
        best, bm = None, lo
        for m in range(lo, hi):
            j = b - (length - m)
            d = float(np.linalg.norm(F[a + m] - F[j]))
            if best is None or d < best:
                best, bm = d, m
        return list(range(a, a + bm)) + list(range(b - (length - bm), b))
    seq = list(range(a, b))
    guard = 0
    while len(seq) < length and guard < 1000:
        guard += 1
        lo, hi = a, max(a + 1, b - min_loop)
        d = np.linalg.norm(F[lo:hi] - F[b], axis=-1)
        j = lo + int(np.argmin(d))
        seq += list(range(j, b))
    extra = len(seq) - length
    if extra > 0:
        # remove `extra` frames where the poses match best (away from both ends)
        best, bp = None, span // 2
        for p in range(span // 2, len(seq) - extra - 1):
            d = float(np.linalg.norm(F[seq[p]] - F[seq[p + extra]]))
            if best is None or d < best:
                best, bp = d, p
        seq = seq[:bp] + seq[bp + extra:]
    return seq


def smooth_jumps(q: np.ndarray, root: np.ndarray, idx: np.ndarray, fps: float, blend: int = 6):
    """Inertialize the discontinuities where ``idx`` (source frame per output frame) jumps."""
    idx = np.asarray(idx)
    cuts = np.flatnonzero(np.abs(np.diff(idx) - 1) > 1e-6) + 1
    q, root = q.copy(), root.copy()
    for c in cuts:
        if c < 2:
            continue
        qq, rr = inertialize(q[c:], root[c:], q[c - 2:c], root[c - 2:c], blend, fps)
        q[c:], root[c:] = qq, rr
    return q, root


# =====================================================================================
# public API
# =====================================================================================

def synthesize(plan: MotionPlan, seed: int = 0, library: MotionLibrary | None = None,
               config: SynthesisConfig = SynthesisConfig()) -> SynthesisResult:
    """Synthesise ``plan`` into a canonical :class:`core.Motion` (see the module docstring).

    Args:
        plan: the parsed prompt (:func:`avatar3d.motion.parser.parse_prompt`).
        seed: choices among equivalent units and small timing/amplitude variation; the same seed
            gives the same motion.
        library: default: the shipped ``assets/motion/library.npz``.
        config: settings; ``max_duration_s`` is capped at :data:`MAX_DURATION_S`.
    Returns:
        :class:`SynthesisResult` (motion at 30 fps on the library's canonical skeleton, starting at
        the origin facing +Z, at most :data:`MAX_FRAMES` frames).
    """
    t_start = time.perf_counter()
    lib = library if library is not None else load_library()
    s = _Synth(plan, lib, int(seed), config)
    q, root, contacts_hint, no_lock = s.run()
    if s.asm.truncated and not any("cap" in w for w in s.warnings):
        s.warnings.append(f"motion cut at the {s.max_frames / s.fps:.0f}-s cap")
    t_gen = time.perf_counter()
    q, root, report = cleanup_track(q, root, lib.rest, s.fps, config.cleanup, contact_hint=None, no_lock=no_lock)
    q, root = normalise_output(q, root, lib.rest)
    t_clean = time.perf_counter()
    motion = to_motion(q, root, lib.rest, s.fps, report.contacts)
    t_end = time.perf_counter()
    return SynthesisResult(motion=motion, segments=tuple(s.asm.segments), warnings=tuple(dict.fromkeys(s.warnings)),
                           seed=int(seed), timings_s={"generate": round(t_gen - t_start, 4),
                                                      "cleanup": round(t_clean - t_gen, 4),
                                                      "total": round(t_end - t_start, 4)})


def synthesize_text(prompt: str, seed: int = 0, library: MotionLibrary | None = None,
                    config: SynthesisConfig = SynthesisConfig(), max_duration_s: float = MAX_DURATION_S):
    """Parse ``prompt`` and synthesise it: returns ``(plan, SynthesisResult)``."""
    from avatar3d.motion.parser import parse_prompt

    plan = parse_prompt(prompt, max_duration_s=min(max_duration_s, MAX_DURATION_S))
    return plan, synthesize(plan, seed=seed, library=library, config=config)


def normalise_output(q: np.ndarray, root: np.ndarray, rest: np.ndarray):
    """Pelvis of frame 0 over the origin, body facing +Z at frame 0 (checker's definition)."""
    h = float(body_heading(fk(q[:1], root[:1], rest))[0])
    root = root - np.array([root[0, 0], 0.0, root[0, 2]])
    r = qyaw(-h)
    q = q.copy()
    q[:, 0] = qmul(np.broadcast_to(r, q[:, 0].shape), q[:, 0])
    root = qrot(np.broadcast_to(r, root.shape[:-1] + (4,)), root)
    return continuous(q), root


def to_motion(q: np.ndarray, root: np.ndarray, rest: np.ndarray, fps: float, contacts: np.ndarray | None = None):
    """numpy track -> :class:`core.Motion` (float32) on the canonical skeleton with ``rest``."""
    import torch

    from avatar3d.core import Motion, Skeleton
    from avatar3d.core.joints import SMPL22, SMPL22_PARENTS

    sk = Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=torch.as_tensor(rest, dtype=torch.float32))
    return Motion(fps=float(fps), skeleton=sk, local_rotations=torch.as_tensor(qnormalize(q), dtype=torch.float32),
                  root_translation=torch.as_tensor(root, dtype=torch.float32),
                  contacts=None if contacts is None else torch.as_tensor(np.asarray(contacts, bool)))


def motion_to_npz_arrays(motion) -> dict[str, np.ndarray]:
    """Re-export of :func:`avatar3d.motion.io.motion_to_npz_arrays` (the ``motion.npz`` contract)."""
    from avatar3d.motion.io import motion_to_npz_arrays as f

    return f(motion)
