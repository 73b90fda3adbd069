"""Actions the CMU clips lack, authored from a real standing pose by keyframes, IK, layering,
mirroring and time reversal.

Everything starts from a :class:`BasePose` - a quiet standing pose averaged over mocap frames
(``scripts/build_motion_library.py`` stores it as the ``stand`` unit) - and works on pose tracks in
the canonical convention (numpy; local rotations ``q [T, 22, 4]`` (w, x, y, z) and pelvis
``root [T, 3]`` metres, world frame Y up, facing +Z at the start).  Two families:

* **Keyframed postures** (:func:`author_sit_down`, :func:`author_bow`, :func:`author_squat`,
  :func:`author_front_kick`, :func:`author_idle`): joint angles at a few keys, interpolated by
  monotone cubic splines; the feet are kept flat on the ground where they stood by moving the
  root (both legs bend symmetrically, so one translation keeps both ankles in place) or by IK.
* **IK-driven gestures and steps** (:func:`author_clap`, :func:`author_raise_arms`,
  :func:`author_punch`, :func:`procedural_steps` with :func:`author_turn`,
  :func:`author_sidestep`, :func:`author_run`): wrist / ankle targets in the body frame
  solved with the analytic two-bone IK of :mod:`avatar3d.motion.cleanup`; footsteps are planned
  explicitly (lift time, landing time, landing place and yaw), so turn angles, sidestep and run
  distances come out exact.

Derived from mocap units: :func:`reverse_unit` (walking backward = a forward walk cycle played
backwards, its foot plants stay planted) and :func:`mirror_unit` (the other hand / leg).
Every function is deterministic; variation comes from the ``rng`` the caller passes (small
timing and amplitude changes).

Sign conventions (local rotations are about world-aligned rest axes): a rotation about +X by
``+a`` tips a segment's +Y end towards +Z, so ``+a`` at the pelvis / spine leans the torso
forward, ``-a`` at a hip lifts the thigh forward, ``+a`` at a knee bends it (shin backwards) and
``-a`` at a shoulder swings a hanging arm forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from avatar3d.motion.cleanup import ARMS, LEGS, set_chain_globals, smoothstep, two_bone_ik
from avatar3d.motion.library import (
    LIBRARY_FPS, J, MotionUnit, body_heading, continuous, fk, make_unit, mat_to_q, mirror_unit, q_to_mat,
    qaxis, qmul, qnormalize, qyaw, yaw_of,
)

X_AXIS = (1.0, 0.0, 0.0)
Y_AXIS = (0.0, 1.0, 0.0)
Z_AXIS = (0.0, 0.0, 1.0)
SPINE = (J["spine1"], J["spine2"], J["spine3"])

__all__ = [
    "BasePose", "Track", "author_bow", "author_clap", "author_front_kick", "author_idle", "author_punch",
    "author_raise_arms", "author_run", "author_sidestep", "author_sit_down", "author_squat", "author_turn",
    "base_pose_from_frames", "mirror_unit", "procedural_steps", "reverse_unit", "spline",
]


@dataclass(frozen=True)
class Track:
    """A pose track: ``q [T, 22, 4]``, ``root [T, 3]``, ``contacts [T, 2]`` bool, at ``fps``;
    ``events`` name -> seconds."""

    q: np.ndarray
    root: np.ndarray
    contacts: np.ndarray
    fps: float = LIBRARY_FPS
    events: dict | None = None

    @property
    def num_frames(self) -> int:
        return int(self.q.shape[0])


@dataclass(frozen=True)
class BasePose:
    """A quiet standing pose: local rotations ``q [22, 4]`` with the pelvis facing +Z, the pelvis
    at ``(0, root_y, 0)``, and the skeleton ``rest [22, 3]``."""

    q: np.ndarray
    root_y: float
    rest: np.ndarray

    def track(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(self.q[None], n, 0).copy(), np.repeat(np.array([[0.0, self.root_y, 0.0]]), n, 0)

    def fk(self):
        q, root = self.track(1)
        pos, glob = fk(q, root, self.rest, with_rotations=True)
        return pos[0], glob[0]


def base_pose_from_frames(q: np.ndarray, root: np.ndarray, rest: np.ndarray) -> BasePose:
    """Average quiet standing frames (``q [T, 22, 4]``, ``root [T, 3]``) into a :class:`BasePose`
    facing +Z, symmetrised left/right (a neutral stance to author from)."""
    from avatar3d.motion.library import mirror_track

    q = continuous(q)
    qs = qnormalize(np.sum(q * np.sign(np.sum(q * q[:1], -1, keepdims=True)), 0))
    r = root.mean(0)
    pos = fk(qs[None], r[None], rest)
    h = float(body_heading(pos)[0])
    qs[0] = qmul(qyaw(-h), qs[0])
    qm, _ = mirror_track(qs[None], np.zeros((1, 3)))
    both = np.stack([qs, qm[0]])
    both = both * np.sign(np.sum(both * both[:1], -1, keepdims=True))
    sym = qnormalize(both.sum(0))
    # feet flat: each ankle's world rotation keeps only its yaw (toe-out), so the foot rests as in
    # the canonical rest pose; then the toes go on their rest height (the ground)
    root1 = np.array([[0.0, r[1], 0.0]])
    _, glob = fk(sym[None], root1, rest, with_rotations=True)
    from avatar3d.core.joints import SMPL22_PARENTS
    for a in ("left_ankle", "right_ankle"):
        j = J[a]
        yaw = float(yaw_of(mat_to_q(glob[0, j])))
        want = q_to_mat(qyaw(yaw))
        sym[j] = mat_to_q(glob[0, SMPL22_PARENTS[j]].T @ want)
    p = fk(sym[None], root1, rest)[0]
    toe = min(p[J["left_foot"], 1], p[J["right_foot"], 1])
    root_y = float(r[1] + (rest[J["left_foot"], 1] - toe))
    return BasePose(q=sym, root_y=root_y, rest=rest)


# =====================================================================================
# small tools
# =====================================================================================

def spline(keys_t, keys_v, t) -> np.ndarray:
    """Monotone cubic (Fritsch-Carlson style) through ``(keys_t, keys_v)`` evaluated at ``t``;
    zero slope at the ends and at local extrema, so a key that is a peak is exactly reached
    and never overshot.  ``keys_v`` may be ``[K]`` or ``[K, D]``."""
    kt = np.asarray(keys_t, dtype=np.float64)
    kv = np.asarray(keys_v, dtype=np.float64)
    t = np.clip(np.asarray(t, dtype=np.float64), kt[0], kt[-1])
    scalar = kv.ndim == 1
    if scalar:
        kv = kv[:, None]
    n = kt.size
    h = np.diff(kt)
    delta = np.diff(kv, axis=0) / h[:, None]
    m = np.zeros_like(kv)
    for k in range(1, n - 1):
        a, b = delta[k - 1], delta[k]
        same = (a * b) > 0
        m[k] = np.where(same, 3 * (h[k - 1] + h[k]) / ((2 * h[k] + h[k - 1]) / np.where(same, a, 1)
                                                        + (h[k] + 2 * h[k - 1]) / np.where(same, b, 1)), 0.0)
    i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, n - 2)
    u = ((t - kt[i]) / h[i])[:, None]
    h00 = 2 * u ** 3 - 3 * u ** 2 + 1
    h10 = u ** 3 - 2 * u ** 2 + u
    h01 = -2 * u ** 3 + 3 * u ** 2
    h11 = u ** 3 - u ** 2
    out = h00 * kv[i] + h10 * h[i][:, None] * m[i] + h01 * kv[i + 1] + h11 * h[i][:, None] * m[i + 1]
    return out[:, 0] if scalar else out


def times(n: int, fps: float = LIBRARY_FPS) -> np.ndarray:
    return np.arange(n) / fps


def rotate_local(q: np.ndarray, joint: int, axis, angle: np.ndarray) -> None:
    """In place: pre-multiply joint's local rotation by a rotation about a world-aligned axis
    (the parent's frame) by ``angle [T]`` radians."""
    q[:, joint] = qmul(qaxis(axis, angle), q[:, joint])


def keep_globals(q: np.ndarray, root: np.ndarray, rest: np.ndarray, joints: tuple[int, ...],
                 target_glob: np.ndarray) -> np.ndarray:
    """Set the local rotations of ``joints`` so their world rotations equal ``target_glob
    [len(joints), 3, 3]`` (e.g. feet kept flat after the legs bend)."""
    _, glob = fk(q, root, rest, with_rotations=True)
    from avatar3d.core.joints import SMPL22_PARENTS

    q = q.copy()
    for k, j in enumerate(joints):
        p = SMPL22_PARENTS[j]
        q[:, j] = mat_to_q(np.swapaxes(glob[:, p], -1, -2) @ target_glob[k])
    return q


def plant_root(q: np.ndarray, root: np.ndarray, rest: np.ndarray, anchor: np.ndarray,
               joints=(J["left_ankle"], J["right_ankle"]), axes=(0, 1, 2)) -> np.ndarray:
    """Translate the root per frame so the mean of ``joints`` sits at ``anchor [3]`` along ``axes``."""
    pos = fk(q, root, rest)
    mid = pos[:, list(joints)].mean(1)
    root = root.copy()
    for a in axes:
        root[:, a] += anchor[a] - mid[:, a]
    return root


def arm_ik(q: np.ndarray, root: np.ndarray, rest: np.ndarray, side: str, target: np.ndarray,
           weight: np.ndarray | None = None) -> np.ndarray:
    """Put the ``side`` wrist on ``target [T, 3]`` (world) by two-bone IK of shoulder-elbow-wrist,
    elbow bending down/out/back; ``weight [T]`` in [0, 1] blends from the current pose."""
    sh, el, wr = ARMS[side]
    pos, glob = fk(q, root, rest, with_rotations=True)
    sgn = 1.0 if side == "left" else -1.0
    hint = np.broadcast_to(np.array([0.35 * sgn, -1.0, -0.45]), pos[:, 0].shape)
    if weight is not None:
        target = pos[:, wr] + weight[:, None] * (target - pos[:, wr])
    ga, gb = two_bone_ik(pos[:, sh], pos[:, el], pos[:, wr], glob[:, sh], glob[:, el], target, hint)
    return set_chain_globals(q, glob, (sh, el, wr), [ga, gb], keep_end_global=False)


def _jitter(rng: np.random.Generator | None, scale: float) -> float:
    return 1.0 if rng is None else float(1.0 + rng.uniform(-scale, scale))


# =====================================================================================
# keyframed postures
# =====================================================================================

def _posture(base: BasePose, keys: list[tuple[float, dict[str, float]]], fps: float, *, feet: str = "plant",
             arms_hang: float = 0.0) -> Track:
    """Keyframed posture: ``keys`` = [(time_s, {channel: degrees})].  Channels: ``pelvis``
    (forward pitch), ``spine`` (forward flexion spread over spine1-3), ``neck``, ``hip``
    (thigh lift, both legs), ``knee`` (bend), ``shoulder`` (arm forward), ``elbow`` (bend),
    ``drop`` (extra pelvis lowering in metres x 100), ``back`` (pelvis backward shift, cm).
    ``feet='plant'``: feet kept flat where they stood (root moved to keep the ankles in place)."""
    duration = keys[-1][0]
    n = int(round(duration * fps)) + 1
    t = times(n, fps)
    chans = sorted({c for _, d in keys for c in d})
    kt = [k for k, _ in keys]
    val = {c: spline(kt, [d.get(c, 0.0) for _, d in keys], t) for c in chans}
    z = np.zeros(n)
    g = lambda c: np.radians(val.get(c, z))  # noqa: E731
    q, root = base.track(n)
    pos0, glob0 = base.fk()
    rotate_local(q, J["pelvis"], X_AXIS, g("pelvis"))
    for j in SPINE:
        rotate_local(q, j, X_AXIS, g("spine") / 3.0)
    rotate_local(q, J["neck"], X_AXIS, g("neck"))
    for s in ("left", "right"):
        # the thigh lift is relative to the world: undo the pelvis pitch at the hip
        rotate_local(q, J[f"{s}_hip"], X_AXIS, -g("hip") - g("pelvis"))
        rotate_local(q, J[f"{s}_knee"], X_AXIS, g("knee"))
        rotate_local(q, J[f"{s}_shoulder"], X_AXIS, -g("shoulder") - arms_hang * (g("pelvis") + g("spine")))
        rotate_local(q, J[f"{s}_elbow"], X_AXIS, -g("elbow"))
    ankles = (J["left_ankle"], J["right_ankle"])
    q = keep_globals(q, root, base.rest, ankles, np.stack([glob0[a] for a in ankles]))
    if feet == "plant":
        anchor = pos0[list(ankles)].mean(0)
        root = plant_root(q, root, base.rest, anchor)
    root[:, 1] -= val.get("drop", z) / 100.0
    root[:, 2] -= val.get("back", z) / 100.0
    contacts = np.ones((n, 2), bool)
    return Track(q=continuous(q), root=root, contacts=contacts, fps=fps)


def author_sit_down(base: BasePose, fps: float = LIBRARY_FPS, rng=None) -> Track:
    """Sit down on a chair (~0.47 m seat): lean forward, hips back and down, upright when seated.
    Events: ``seated`` (s)."""
    s = _jitter(rng, 0.08)
    keys = [(0.0, {}),
            (0.5 * s, {"pelvis": 15, "spine": 10, "hip": 20, "knee": 30, "neck": -8}),
            (1.3 * s, {"pelvis": 28, "spine": 12, "hip": 80, "knee": 92, "neck": -15, "shoulder": 10, "elbow": 20}),
            (2.0 * s, {"pelvis": 8, "spine": 4, "hip": 88, "knee": 90, "neck": -5, "shoulder": 20, "elbow": 45})]
    tr = _posture(base, keys, fps)
    return replace(tr, events={"seated": (2.0 * s,)})


def author_bow(base: BasePose, fps: float = LIBRARY_FPS, rng=None, depth_deg: float = 38.0) -> Track:
    """A polite bow from the hips: down 0.8 s, hold, back up.  Events: ``bow`` (start, end)."""
    s = _jitter(rng, 0.1)
    d = depth_deg * _jitter(rng, 0.1)
    keys = [(0.0, {}),
            (0.85 * s, {"pelvis": 0.55 * d, "spine": 0.45 * d, "neck": -6, "hip": -4, "back": 3}),
            (1.55 * s, {"pelvis": 0.55 * d, "spine": 0.45 * d, "neck": -6, "hip": -4, "back": 3}),
            (2.5 * s, {})]
    tr = _posture(base, keys, fps, arms_hang=0.7)
    return replace(tr, events={"bow": (0.5 * s, 1.8 * s)})


def author_squat(base: BasePose, fps: float = LIBRARY_FPS, rng=None) -> Track:
    """One bodyweight squat, arms forward for balance.  Events: ``bottom``."""
    s = _jitter(rng, 0.08)
    keys = [(0.0, {}),
            (0.9 * s, {"pelvis": 30, "spine": 10, "hip": 85, "knee": 115, "shoulder": 75, "neck": -20}),
            (1.2 * s, {"pelvis": 30, "spine": 10, "hip": 85, "knee": 115, "shoulder": 75, "neck": -20}),
            (2.2 * s, {})]
    tr = _posture(base, keys, fps)
    return replace(tr, events={"bottom": (1.05 * s,)})


def author_idle(base: BasePose, duration_s: float = 4.0, fps: float = LIBRARY_FPS, rng=None) -> Track:
    """Standing idle, loopable over ``duration_s``: breathing (spine +-0.6 deg), a slow weight
    shift (pelvis +-1 cm sideways, feet planted) and a tiny head movement."""
    n = int(round(duration_s * fps))
    t = times(n, fps)
    w = 2 * math.pi / duration_s
    ph = 0.0 if rng is None else float(rng.uniform(0, 2 * math.pi))
    q, root = base.track(n)
    pos0, glob0 = base.fk()
    breath = np.radians(0.6) * np.sin(2 * w * t + ph)
    for j in SPINE:
        rotate_local(q, j, X_AXIS, breath / 3)
    rotate_local(q, J["neck"], Y_AXIS, np.radians(2.0) * np.sin(w * t + 2 * ph))
    root[:, 0] += 0.01 * np.sin(w * t + ph)
    # legs follow the pelvis sway by IK (ankles stay where they stood)
    for side, (hip, knee, ankle, toe) in LEGS.items():
        pos, glob = fk(q, root, base.rest, with_rotations=True)
        tg = np.broadcast_to(pos0[ankle], pos[:, ankle].shape)
        hint = np.broadcast_to(np.array([0.0, 0.0, 1.0]), tg.shape)
        ga, gb = two_bone_ik(pos[:, hip], pos[:, knee], pos[:, ankle], glob[:, hip], glob[:, knee], tg, hint)
        q = set_chain_globals(q, glob, (hip, knee, ankle), [ga, gb])
    return Track(q=continuous(q), root=root, contacts=np.ones((n, 2), bool), fps=fps)


def author_front_kick(base: BasePose, side: str = "right", fps: float = LIBRARY_FPS, rng=None) -> Track:
    """A front (snap) kick: weight onto the other leg, chamber the knee, snap the shin out at hip
    height, re-chamber, put the foot back.  Events: ``kick`` (time of full extension)."""
    s = _jitter(rng, 0.08)
    lift = 1.0 * _jitter(rng, 0.08)
    n_t = [0.0, 0.35, 0.6, 0.78, 0.98, 1.25, 1.6]
    n_t = [x * s for x in n_t]
    hip = np.array([0, 5, 60, 78, 62, 8, 0]) * lift
    knee = np.array([0, 10, 95, 8, 90, 15, 0])
    lean = np.array([0, -2, -8, -12, -8, -2, 0])
    shift = np.array([0, 1, 1, 1, 1, 1, 0]) * 0.055           # pelvis over the standing foot
    n = int(round(n_t[-1] * fps)) + 1
    t = times(n, fps)
    q, root = base.track(n)
    pos0, glob0 = base.fk()
    kick_s, stand_s = side, ("left" if side == "right" else "right")
    sgn = 1.0 if stand_s == "left" else -1.0
    root[:, 0] += sgn * spline(n_t, shift, t)
    rotate_local(q, J["pelvis"], X_AXIS, np.radians(spline(n_t, lean, t)))
    # the kicking leg swings in the sagittal plane: drop the stance's toe-out twist of hip and knee
    for j in (J[f"{kick_s}_hip"], J[f"{kick_s}_knee"]):
        q[:, j] = np.array([1.0, 0.0, 0.0, 0.0])
    rotate_local(q, J[f"{kick_s}_hip"], X_AXIS, -np.radians(spline(n_t, hip, t)) - np.radians(spline(n_t, lean, t)))
    rotate_local(q, J[f"{kick_s}_knee"], X_AXIS, np.radians(spline(n_t, knee, t)))
    for a in ("left_shoulder", "right_shoulder"):
        rotate_local(q, J[a], X_AXIS, -np.radians(spline(n_t, [0, 5, 20, 25, 20, 5, 0], t)))
    # standing leg: ankle stays put (IK); kicking foot: points forward (plantar flexion at extension)
    hip_j, knee_j, ankle_j, _ = LEGS[stand_s]
    pos, glob = fk(q, root, base.rest, with_rotations=True)
    tg = np.broadcast_to(pos0[ankle_j], pos[:, ankle_j].shape)
    ga, gb = two_bone_ik(pos[:, hip_j], pos[:, knee_j], pos[:, ankle_j], glob[:, hip_j], glob[:, knee_j], tg,
                         np.broadcast_to(np.array([0.0, 0.0, 1.0]), tg.shape))
    q = set_chain_globals(q, glob, (hip_j, knee_j, ankle_j), [ga, gb], keep_end_global=False)
    q = keep_globals(q, root, base.rest, (ankle_j,), glob0[ankle_j][None])
    rotate_local(q, J[f"{kick_s}_ankle"], X_AXIS, np.radians(spline(n_t, [0, 10, 30, 35, 30, 10, 0], t)))
    contacts = np.ones((n, 2), bool)
    k = 0 if kick_s == "left" else 1
    contacts[int(0.2 * s * fps):int(1.45 * s * fps), k] = False
    return Track(q=continuous(q), root=root, contacts=contacts, fps=fps, events={"kick": (n_t[3],)})


# =====================================================================================
# arm gestures by IK
# =====================================================================================

def _gesture(base: BasePose, n: int, targets: dict[str, np.ndarray], weight: np.ndarray, fps: float,
             q: np.ndarray | None = None, root: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    if q is None:
        q, root = base.track(n)
    for side, tg in targets.items():
        q = arm_ik(q, root, base.rest, side, tg, weight)
    return q, root


def author_clap(base: BasePose, count: int, fps: float = LIBRARY_FPS, rng=None, period_s: float = 0.5) -> Track:
    """``count`` claps in front of the chest: hands up (0.45 s), open/close ``count`` times, hands
    down (0.45 s).  Events: ``clap`` (times the hands meet)."""
    count = max(1, int(count))
    per = period_s * _jitter(rng, 0.06)
    amp = _jitter(rng, 0.1)
    up, down = 0.45, 0.45
    dur = up + count * per + down
    n = int(round(dur * fps)) + 1
    t = times(n, fps)
    pos0, _ = base.fk()
    sh_y = pos0[J["left_shoulder"], 1]
    hz = pos0[J["spine3"], 2]
    half_open = 0.16 * amp
    half_closed = 0.035
    x_keys, k_t = [half_open, half_open], [0.0, up]
    events = []
    for c in range(count):
        t0 = up + c * per
        k_t += [t0 + 0.5 * per, t0 + per]
        x_keys += [half_closed, half_open]
        events.append(t0 + 0.5 * per)
    x = spline(k_t, x_keys, t)
    w = np.clip(np.minimum(t / up, (dur - t) / down), 0.0, 1.0)
    w = smoothstep(w)
    targets = {}
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        tg = np.stack([sgn * x, np.full(n, sh_y - 0.12), np.full(n, hz + 0.33)], -1)
        targets[side] = tg
    q, root = _gesture(base, n, targets, w, fps)
    return Track(q=continuous(q), root=root, contacts=np.ones((n, 2), bool), fps=fps, events={"clap": tuple(events)})


def author_raise_arms(base: BasePose, hold_s: float, side: str = "both", fps: float = LIBRARY_FPS, rng=None) -> Track:
    """Raise one or both arms straight above the head (0.85 s), hold ``hold_s``, lower (0.85 s).
    Events: ``hold`` (start, end)."""
    up = 0.85 * _jitter(rng, 0.08)
    dur = up + max(hold_s, 0.0) + up
    n = int(round(dur * fps)) + 1
    t = times(n, fps)
    pos0, _ = base.fk()
    head_y = pos0[J["head"], 1]
    w = smoothstep(np.clip(np.minimum(t / up, (dur - t) / up), 0.0, 1.0))
    sides = ("left", "right") if side == "both" else (side,)
    # swing the arm up in front (a path through shoulder height), not through the body
    targets = {}
    for s in sides:
        sgn = 1.0 if s == "left" else -1.0
        sh = pos0[J[f"{s}_shoulder"]]
        el, wr = pos0[J[f"{s}_elbow"]], pos0[J[f"{s}_wrist"]]
        reach = float(np.linalg.norm(el - sh) + np.linalg.norm(wr - el))
        top = np.array([sh[0] + sgn * 0.06 * _jitter(rng, 0.5), sh[1] + 0.96 * reach, sh[2] + 0.03])
        mid = np.array([sgn * 0.30, sh[1] + 0.05, sh[2] + 0.35])
        wr0 = pos0[J[f"{s}_wrist"]]
        a = np.clip(w, 0, 1)[:, None]
        # quadratic Bezier rest -> mid -> top
        tg = (1 - a) ** 2 * wr0 + 2 * a * (1 - a) * mid + a ** 2 * top
        targets[s] = tg
    q, root = _gesture(base, n, targets, np.ones(n), fps)
    return Track(q=continuous(q), root=root, contacts=np.ones((n, 2), bool), fps=fps,
                 events={"hold": (up, dur - up)})


def author_punch(base: BasePose, count: int, side: str | None = None, fps: float = LIBRARY_FPS, rng=None) -> Track:
    """Guard up (0.35 s), ``count`` straight punches at shoulder height (alternating when ``side``
    is None or 'both', else with that arm), guard down.  Events: ``punch`` (full extensions)."""
    count = max(1, int(count))
    pos0, _ = base.fk()
    up = 0.35
    per = 0.55 * _jitter(rng, 0.08)
    dur = up + count * per + 0.45
    n = int(round(dur * fps)) + 1
    t = times(n, fps)
    if side in ("left", "right"):
        order = [side] * count
    else:
        first = "right" if rng is None or rng.random() < 0.7 else "left"
        other = "left" if first == "right" else "right"
        order = [first if c % 2 == 0 else other for c in range(count)]
    guard_w = smoothstep(np.clip(np.minimum(t / up, (dur - t) / 0.45), 0.0, 1.0))
    targets, events = {}, []
    ext = {s: np.zeros(n) for s in ("left", "right")}
    for c, s in enumerate(order):
        t0 = up + c * per + 0.08
        kt = [t0, t0 + 0.13, t0 + 0.2, t0 + 0.42]
        e = spline(kt, [0.0, 1.0, 1.0, 0.0], t)
        ext[s] = np.maximum(ext[s], np.where((t >= kt[0]) & (t <= kt[-1]), e, 0.0))
        events.append(t0 + 0.16)
    twist = np.zeros(n)
    for s in ("left", "right"):
        sgn = 1.0 if s == "left" else -1.0
        sh = pos0[J[f"{s}_shoulder"]]
        guard = np.array([sgn * 0.13, sh[1] + 0.02, sh[2] + 0.24])
        hit = np.array([sgn * 0.08, sh[1] - 0.02, sh[2] + 0.50])
        e = ext[s][:, None]
        targets[s] = guard + e * (hit - guard)
        twist += -sgn * np.radians(12.0) * ext[s]
    q, root = base.track(n)
    rotate_local(q, J["spine2"], Y_AXIS, twist * guard_w)
    q, root = _gesture(base, n, targets, guard_w, fps, q, root)
    return Track(q=continuous(q), root=root, contacts=np.ones((n, 2), bool), fps=fps,
                 events={"punch": tuple(events), **{f"punch_{s}": tuple(ev for ev, ss in zip(events, order) if ss == s)
                                                    for s in ("left", "right")}})


# =====================================================================================
# footstep-driven procedural locomotion (turns in place, sidesteps, runs)
# =====================================================================================

@dataclass(frozen=True)
class Step:
    """One foot swing: ``side`` 0 = left, 1 = right; lifts at ``t_lift`` and lands at ``t_land``
    (seconds) with the ankle at ``xz`` (world) and the foot turned to ``yaw`` (radians); swing
    apex ``height`` (metres above the standing ankle height)."""

    side: int
    t_lift: float
    t_land: float
    xz: tuple[float, float]
    yaw: float
    height: float = 0.08


def _yaw_vec(yaw: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(yaw), np.cos(yaw)], -1)


def procedural_steps(base: BasePose, n: int, pelvis_xz: np.ndarray, heading: np.ndarray, steps: list[Step], *,
                     fps: float = LIBRARY_FPS, pelvis_dy: np.ndarray | None = None, lean: np.ndarray | None = None,
                     arm_swing: np.ndarray | None = None, elbow: np.ndarray | None = None,
                     start_feet: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None) -> Track:
    """Procedural stepping: the pelvis follows ``pelvis_xz [T, 2]`` / ``heading [T]`` (+ optional
    ``pelvis_dy`` height change, ``lean`` forward pitch in radians), each foot stays planted between
    its :class:`Step` s and swings on a smooth arc during them, legs by two-bone IK; upper body =
    the base pose plus an arm swing ``arm_swing [T]`` radians (+ = left arm forward) and elbow bend.

    ``start_feet`` = ((x, z, yaw) left, (x, z, yaw) right); default: the base stance at the
    starting pelvis.  Returns a :class:`Track` with contacts = feet not swinging.
    """
    t = times(n, fps)
    pos0, glob0 = base.fk()
    q, root = base.track(n)
    root[:, 0], root[:, 2] = pelvis_xz[:, 0], pelvis_xz[:, 1]
    if pelvis_dy is not None:
        root[:, 1] += pelvis_dy
    pel = qyaw(heading)
    if lean is not None:
        pel = qmul(pel, qaxis(X_AXIS, lean))
    q[:, 0] = qmul(pel, q[:, 0])
    if lean is not None:   # keep the legs' world orientation independent of the lean
        for s in ("left", "right"):
            rotate_local(q, J[f"{s}_hip"], X_AXIS, -lean)
    if arm_swing is not None:
        rotate_local(q, J["left_shoulder"], X_AXIS, -arm_swing)
        rotate_local(q, J["right_shoulder"], X_AXIS, arm_swing)
    if elbow is not None:
        for s in ("left", "right"):
            rotate_local(q, J[f"{s}_elbow"], X_AXIS, -elbow)
    # feet
    ankles = (J["left_ankle"], J["right_ankle"])
    base_off = [pos0[a] - pos0[0] for a in ankles]   # ankle offsets from the pelvis, heading 0
    ank_y = [pos0[a, 1] for a in ankles]
    feet_pos = np.zeros((2, n, 3))
    feet_yaw = np.zeros((2, n))
    contacts = np.ones((n, 2), bool)
    for k in range(2):
        if start_feet is not None:
            cur = np.array(start_feet[k][:2], dtype=np.float64)
            cur_yaw = float(start_feet[k][2])
        else:
            h0 = heading[0]
            off = base_off[k]
            cur = np.array([pelvis_xz[0, 0] + math.cos(h0) * off[0] + math.sin(h0) * off[2],
                            pelvis_xz[0, 1] - math.sin(h0) * off[0] + math.cos(h0) * off[2]])
            cur_yaw = float(h0)
        xs = np.repeat(cur[None], n, 0)
        ys = np.full(n, ank_y[k])
        yaws = np.full(n, cur_yaw)
        for st in sorted((s for s in steps if s.side == k), key=lambda s: s.t_lift):
            a = t >= st.t_lift
            sw = a & (t < st.t_land)
            u = np.clip((t - st.t_lift) / max(st.t_land - st.t_lift, 1e-6), 0.0, 1.0)
            # lift first, travel in the middle of the swing, set down last (no sliding near the ground)
            e = smoothstep((u - 0.12) / 0.76)
            new = np.array(st.xz, dtype=np.float64)
            dyaw = (st.yaw - cur_yaw + math.pi) % (2 * math.pi) - math.pi
            xs[a] = cur + e[a, None] * (new - cur)
            yaws[a] = cur_yaw + e[a] * dyaw
            ys[sw] = ank_y[k] + st.height * np.sin(math.pi * u[sw]) ** 0.8
            contacts[sw, k] = False
            cur, cur_yaw = new, cur_yaw + dyaw
        feet_pos[k, :, 0], feet_pos[k, :, 1], feet_pos[k, :, 2] = xs[:, 0], ys, xs[:, 1]
        feet_yaw[k] = yaws
    # IK per leg; ankle world rotation = the base foot turned to the foot yaw
    pos, glob = fk(q, root, base.rest, with_rotations=True)
    for k, side in enumerate(("left", "right")):
        hip, knee, ankle, toe = LEGS[side]
        tg = feet_pos[k]
        hint = np.concatenate([_yaw_vec(heading)[:, :1], np.zeros((n, 1)), _yaw_vec(heading)[:, 1:]], -1)
        ga, gb = two_bone_ik(pos[:, hip], pos[:, knee], pos[:, ankle], glob[:, hip], glob[:, knee], tg, hint)
        q = set_chain_globals(q, glob, (hip, knee, ankle), [ga, gb], keep_end_global=False)
        want = q_to_mat(qyaw(feet_yaw[k])) @ glob0[ankle]
        q[:, ankle] = mat_to_q(np.swapaxes(gb, -1, -2) @ want)
    return Track(q=continuous(q), root=root, contacts=contacts, fps=fps)


def _stance_offsets(base: BasePose) -> list[np.ndarray]:
    pos0, _ = base.fk()
    return [pos0[J[a]] - pos0[0] for a in ("left_ankle", "right_ankle")]


def _foot_at(pelvis_xz: np.ndarray, yaw: float, off: np.ndarray) -> tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return (float(pelvis_xz[0] + c * off[0] + s * off[2]), float(pelvis_xz[1] - s * off[0] + c * off[2]))


def author_turn(base: BasePose, turn_deg: float, fps: float = LIBRARY_FPS, rng=None, speed: float = 1.0,
                n_steps: int | None = None, max_steps: int | None = None) -> Track:
    """Turn in place by exactly ``turn_deg`` (+ = left) with small steps: the foot on the turning
    side first, <= 50 deg per step, the last step bringing the feet side by side (``turn_deg`` 0
    with ``n_steps`` = stepping in place).  Events: ``turn`` (start, end)."""
    ang = math.radians(turn_deg)
    if n_steps is None:
        n_steps = max(2, int(math.ceil(abs(turn_deg) / 50.0)) + 1)
    if max_steps is not None:
        n_steps = max(2, min(n_steps, int(max_steps)))
    swing = 0.4 / max(speed, 0.3) * _jitter(rng, 0.05)
    gap = 0.46 / max(speed, 0.3) * _jitter(rng, 0.05)
    t0 = 0.15
    lifts = [t0 + i * gap for i in range(n_steps)]
    lands = [lf + swing for lf in lifts]
    dur = lands[-1] + 0.25
    n = int(round(dur * fps)) + 1
    t = times(n, fps)
    heading = ang * smoothstep((t - t0) / (lands[-1] - t0 - 0.1))
    pelvis = np.zeros((n, 2))
    off = _stance_offsets(base)
    first = 0 if ang > 0 else 1
    steps = []
    for i in range(n_steps):
        side = (first + i) % 2
        # each landing: where that foot stands when the pelvis has this step's share of the turn
        yaw = ang * min(1.0, (i + 1) / (n_steps - 1)) if i < n_steps - 1 else ang
        steps.append(Step(side, lifts[i], lands[i], _foot_at(pelvis[0], yaw, off[side]), yaw, 0.06))
    tr = procedural_steps(base, n, pelvis, heading, steps, fps=fps)
    return replace(tr, events={"turn": (t0, lands[-1])})


def author_sidestep(base: BasePose, distance_m: float, direction: str, fps: float = LIBRARY_FPS, rng=None,
                    speed: float = 1.0) -> Track:
    """Step sideways ``distance_m`` to the character's ``direction`` ('left' = +X) facing +Z:
    lead foot out, trail foot in, <= 0.32 m per pair.  Events: ``move`` (start, end)."""
    d = max(float(distance_m), 0.0)
    pairs = max(1, int(math.ceil(d / 0.32)))
    step = d / pairs
    sgn = 1.0 if direction == "left" else -1.0
    lead = 0 if direction == "left" else 1
    swing = 0.34 / max(speed, 0.3) * _jitter(rng, 0.05)
    cyc = 0.78 / max(speed, 0.3) * _jitter(rng, 0.05)
    t0 = 0.15
    dur = t0 + pairs * cyc + 0.3
    n = int(round(dur * fps)) + 1
    t = times(n, fps)
    x = sgn * d * smoothstep((t - t0) / (pairs * cyc))
    pelvis = np.stack([x, np.zeros(n)], -1)
    off = _stance_offsets(base)
    steps = []
    for p in range(pairs):
        tl = t0 + p * cyc
        target = np.array([sgn * step * (p + 1), 0.0])
        steps.append(Step(lead, tl, tl + swing, _foot_at(target, 0.0, off[lead]), 0.0, 0.07))
        steps.append(Step(1 - lead, tl + 0.45 * cyc, tl + 0.45 * cyc + swing, _foot_at(target, 0.0, off[1 - lead]),
                          0.0, 0.06))
    tr = procedural_steps(base, n, pelvis, np.zeros(n), steps, fps=fps)
    return replace(tr, events={"move": (t0, t0 + pairs * cyc)})


def author_run(base: BasePose, distance_m: float, fps: float = LIBRARY_FPS, rng=None, speed: float = 1.0,
               max_frames: int | None = None) -> Track:
    """Run ``distance_m`` forward (+Z): accelerate over ~1 s to ``3 m/s x speed``, cruise, slow to a
    stop with the feet side by side.  Cadence 1.9 -> 2.9 steps/s, stance 0.4 -> 0.2 s (flight
    phases at speed), forward lean, bent elbows, arm swing.  Events: ``move`` (start, end)."""
    D = max(float(distance_m), 0.0)
    V = 3.0 * min(max(speed, 0.5), 1.8) * _jitter(rng, 0.05)
    ta, td = 1.0, 0.8
    if D < V * (ta + td) / 2:
        V = max(D / ((ta + td) / 2), 0.5)
        ta, td = max(min(ta, D / V), 0.2), max(min(td, D / V), 0.2)
    tc = max(D - V * (ta + td) / 2, 0.0) / V
    t0 = 0.1
    T_move = ta + tc + td
    dur = t0 + T_move + 0.45
    n = int(round(dur * fps)) + 1
    if max_frames is not None and n > max_frames:
        n = max_frames
    dt = 1.0 / fps
    t = times(n, fps)
    tt = t - t0
    v = np.where(tt < 0, 0.0, np.where(tt < ta, V * smoothstep(tt / ta),
                 np.where(tt < ta + tc, V, np.where(tt < T_move, V * (1 - smoothstep((tt - ta - tc) / td)), 0.0))))
    s = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)])
    if s[-1] > 1e-6:
        s *= D / s[-1] if n == int(round(dur * fps)) + 1 else 1.0
    pelvis = np.stack([np.zeros(n), s], -1)
    # step schedule: mid-stance times where the step phase crosses k + 0.5
    cadence = 1.9 + 0.33 * v
    phase = np.concatenate([[0.0], np.cumsum(0.5 * (cadence[1:] + cadence[:-1]) * dt)])
    moving = v > 0.25
    mids = []
    k = 0
    while True:
        idx = np.flatnonzero(phase >= k + 0.5)
        if idx.size == 0:
            break
        i = int(idx[0])
        if not moving[i] and mids:
            break
        if moving[i]:
            mids.append(i)
        k += 1
    off = _stance_offsets(base)
    steps = []
    first = 1  # right foot plants first -> the left foot makes the first swing
    last_land = [0.0, 0.0]
    prev_end = [t0, t0]  # left foot's (virtual) stance ends when it first lifts
    for m, i in enumerate(mids):
        side = (first + m) % 2
        ts = float(np.clip(0.42 - 0.075 * v[i], 0.19, 0.42))
        land, end = t[i] - ts / 2, t[i] + ts / 2
        lift = prev_end[side] if m >= 2 else max(t0, land - 0.45)
        if m < 2:
            lift = max(t0 + 0.02 * m, land - max(0.3, 0.7 * (land - t0)))
        if land - lift < 0.12:
            continue
        xz = _foot_at(pelvis[i], 0.0, off[side] * np.array([0.55, 1, 1]))
        h = 0.07 + 0.06 * v[i]
        steps.append(Step(side, lift, land, xz, 0.0, h))
        prev_end[side] = end
        last_land[side] = land
    # final: both feet side by side under the stopped pelvis
    end_p = pelvis[-1]
    for side in (0, 1):
        lift = max(prev_end[side], max(last_land) + 0.05 if side != steps[-1].side else prev_end[side])
        lift = min(lift, t[-1] - 0.35)
        steps.append(Step(side, lift, lift + 0.3, _foot_at(end_p, 0.0, off[side]), 0.0, 0.05))
    # body: lean, crouch, bob, arms
    vr = v / max(V, 1e-6)
    lean = np.radians(9.0) * vr
    stance_phase = np.cos(2 * math.pi * phase)          # +1 at mid-stance
    dy = -0.035 * vr - 0.025 * vr * stance_phase
    arm = np.radians(38.0) * vr * np.sin(math.pi * (phase - 0.5))
    elbow = np.radians(25 + 60 * vr)
    tr = procedural_steps(base, n, pelvis, np.zeros(n), steps, fps=fps, pelvis_dy=dy, lean=lean, arm_swing=arm,
                          elbow=elbow)
    return replace(tr, events={"move": (t0, t0 + T_move)})


# =====================================================================================
# derived from mocap units
# =====================================================================================

def reverse_unit(unit: MotionUnit, action: str, name: str) -> MotionUnit:
    """Time-reversed unit (a forward walk cycle becomes walking backward): frames in reverse order,
    renormalised to start at the origin; stride and turn negate, event times mirror."""
    q = unit.q[::-1].copy()
    root = unit.root[::-1].copy()
    if unit.kind == "cycle":
        # frame 0 of the reversed cycle = old last frame; shift so it sits at the origin
        root = root - np.array([root[0, 0], 0.0, root[0, 2]])
    dur = unit.duration_s
    events = {k: tuple(sorted(round(dur - 1.0 / unit.fps - x, 4) for x in v)) for k, v in unit.events.items()}
    return replace(unit, name=name, action=action, q=q, root=root, contacts=unit.contacts[::-1].copy(),
                   stride_xz=(-unit.stride_xz[0], -unit.stride_xz[1]), turn_deg=-unit.turn_deg, events=events,
                   ops=unit.ops + ("reverse",))


def track_to_unit(tr: Track, name: str, action: str, kind: str, rest: np.ndarray, *, side=None, source="",
                  tags=()) -> MotionUnit:
    root = tr.root - np.array([tr.root[0, 0], 0.0, tr.root[0, 2]])
    return make_unit(name, action, kind, tr.q, root, rest, side=side, fps=tr.fps, events=tr.events or {},
                     source=source, ops=("authored",), tags=tags, contacts=tr.contacts)
