"""Foot-contact cleanup of a synthesised motion: contacts, foot locking by IK, ground, smoothing.

Works on a pose track in the canonical convention (numpy, :mod:`avatar3d.motion.library`):
local rotations ``q [T, 22, 4]`` (w, x, y, z) and pelvis positions ``root [T, 3]`` (metres, world
frame, Y up, ground at y = 0), at ``fps``.  :func:`cleanup_track` runs, in order:

1. **Light smoothing without lag** - a centred (zero-phase) Gaussian over time on the root and on
   the sign-aligned quaternions (sigma :attr:`CleanupConfig.smooth_sigma_frames`, odd-reflected
   ends so the first and last poses stay put).  It removes mocap marker noise and the kinks blends
   leave, which dominate jerk; it shifts nothing in time.
2. **Contacts** from height + velocity of the toe joints (``left_foot``/``right_foot``): within
   :attr:`~CleanupConfig.contact_height_m` of the toe's rest height and slower than
   :attr:`~CleanupConfig.contact_speed_m_s`, runs shorter than ``min_contact_s`` dropped, gaps of a
   frame or two filled.  Optional hints (e.g. a unit's own contacts) are OR-ed in.
3. **Foot locking**: during a contact the toe is held where it touched down; after lift-off the
   correction fades out over ``release_s`` with a smoothstep.  The foot keeps its animated
   orientation, so the ankle target is the toe target minus the animated ankle->toe vector.
4. **No ground penetration**: toe and ankle targets are raised to at least ``toe_floor_m`` /
   ``ankle_floor_m``; the pelvis is lowered where a leg could not reach its target.
5. **Two-bone IK** (hip-knee-ankle, :func:`two_bone_ik`) puts each ankle on its target, the knee in
   the plane it was bending in; the ankle's world rotation is restored, so the foot (and toe)
   follow rigidly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatar3d.core.joints import SMPL22_PARENTS
from avatar3d.motion.library import J, TOES, continuous, fk, mat_to_q, qnormalize

LEGS = {"left": (J["left_hip"], J["left_knee"], J["left_ankle"], J["left_foot"]),
        "right": (J["right_hip"], J["right_knee"], J["right_ankle"], J["right_foot"])}
ARMS = {"left": (J["left_shoulder"], J["left_elbow"], J["left_wrist"]),
        "right": (J["right_shoulder"], J["right_elbow"], J["right_wrist"])}
#: A leg may stretch to this fraction of its length before the pelvis is lowered.
MAX_REACH = 0.995


@dataclass(frozen=True)
class CleanupConfig:
    """Settings of :func:`cleanup_track` (lengths in metres, times in seconds)."""

    smooth_sigma_frames: float = 1.0
    contact_height_m: float = 0.035
    contact_speed_m_s: float = 0.35
    contact_speed_rel: float = 0.35
    min_contact_s: float = 0.07
    fill_gap_s: float = 0.07
    release_s: float = 0.2
    toe_floor_m: float = 0.004
    ankle_floor_m: float = 0.03
    lock_feet: bool = True


@dataclass(frozen=True)
class CleanupReport:
    """What the cleanup did.

    Attributes:
        contacts: ``[T, 2]`` bool final toe contacts (left, right).
        locked_frames: frames with at least one foot locked.
        max_correction_m: largest ankle displacement the IK applied.
        max_residual_m: largest distance left between an ankle and its target (unreachable).
        max_pelvis_drop_m: largest pelvis lowering used to reach a target.
    """

    contacts: np.ndarray
    locked_frames: int = 0
    max_correction_m: float = 0.0
    max_residual_m: float = 0.0
    max_pelvis_drop_m: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)


# =====================================================================================
# smoothing
# =====================================================================================

def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 with odd reflection at both ends (keeps the
    end values and slopes; no lag)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.shape[0] < 3:
        return x.copy()
    r = max(1, int(np.ceil(3 * sigma)))
    r = min(r, x.shape[0] - 1)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    head = 2 * x[:1] - x[r:0:-1]
    tail = 2 * x[-1:] - x[-2:-r - 2:-1]
    xp = np.concatenate([head, x, tail], 0)
    flat = xp.reshape(xp.shape[0], -1)
    out = np.empty((x.shape[0], flat.shape[1]))
    for c in range(flat.shape[1]):
        out[:, c] = np.convolve(flat[:, c], k, mode="valid")
    return out.reshape(x.shape)


def smooth_track(q: np.ndarray, root: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    if sigma <= 0:
        return q, root
    qs = qnormalize(gaussian_smooth(continuous(q), sigma))
    return qs, gaussian_smooth(root, sigma)


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# =====================================================================================
# IK
# =====================================================================================

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(np.sum(_unit(a) * _unit(b), -1), -1.0, 1.0))


def _axis_angle_mat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: ``[N, 3, 3]`` rotations about unit ``axis [N, 3]`` by ``angle [N]``."""
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.stack([
        np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
        np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
        np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1),
    ], -2)


def two_bone_ik(pa: np.ndarray, pb: np.ndarray, pc: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                target: np.ndarray, bend_hint: np.ndarray, max_reach: float = 0.9999):
    """Analytic two-bone IK (D. Holden's formulation) on world rotations.

    Args:
        pa, pb, pc: ``[N, 3]`` root, middle and end joint positions (hip, knee, ankle).
        ga, gb: ``[N, 3, 3]`` world rotations of the root and middle joints.
        target: ``[N, 3]`` where the end joint should go.
        bend_hint: ``[N, 3]`` direction the middle joint bends towards, used when the chain is
            (nearly) straight (knees: forward; elbows: backward).
    Returns:
        new ``ga``, ``gb`` ``[N, 3, 3]``; the end joint lands on ``target`` when reachable
        (closer than ``max_reach`` x the chain length), else as close as the chain allows.
    """
    ab, bc, ac, at = pb - pa, pc - pb, pc - pa, target - pa
    l1 = np.linalg.norm(ab, axis=-1)
    l2 = np.linalg.norm(bc, axis=-1)
    d = np.clip(np.linalg.norm(at, axis=-1), np.abs(l1 - l2) + 1e-4, (l1 + l2) * max_reach)
    ac_ab_0 = _angle(ac, ab)
    ba_bc_0 = _angle(-ab, bc)
    ac_at_0 = _angle(ac, at)
    ac_ab_1 = np.arccos(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1, 1))
    ba_bc_1 = np.arccos(np.clip((l1 * l1 + l2 * l2 - d * d) / (2 * l1 * l2), -1, 1))
    n = np.cross(ac, ab)
    nh = np.cross(ac, bend_hint)
    scale = np.linalg.norm(ac, axis=-1, keepdims=True) * np.linalg.norm(ab, axis=-1, keepdims=True)
    # blend to the hint as the chain straightens (|n| -> 0), so the bend plane stays defined
    w = np.clip(np.linalg.norm(n, axis=-1, keepdims=True) / np.maximum(scale, 1e-9) / 0.05, 0.0, 1.0)
    axis0 = _unit(w * _unit(n) + (1 - w) * _unit(nh))
    axis1 = np.cross(ac, at)
    ok1 = np.linalg.norm(axis1, axis=-1) > 1e-10
    axis1 = np.where(ok1[:, None], _unit(axis1), np.array([1.0, 0.0, 0.0]))
    r0 = _axis_angle_mat(axis0, ac_ab_1 - ac_ab_0)
    r1 = _axis_angle_mat(axis0, ba_bc_1 - ba_bc_0)
    r2 = _axis_angle_mat(axis1, np.where(ok1, ac_at_0, 0.0))
    ga2 = r2 @ r0 @ ga
    gb2 = r2 @ r0 @ r1 @ gb
    return ga2, gb2


def set_chain_globals(q: np.ndarray, glob: np.ndarray, chain: tuple[int, ...], new_globals: list[np.ndarray],
                      keep_end_global: bool = True, frames: np.ndarray | None = None) -> np.ndarray:
    """Write new world rotations of ``chain[:2]`` into local quaternions ``q`` (copy); with
    ``keep_end_global`` the third joint keeps its old world rotation.  ``frames`` selects rows."""
    q = q.copy()
    sel = np.arange(q.shape[0]) if frames is None else frames
    a, b, c = chain[:3]
    pa = SMPL22_PARENTS[a]
    g_parent = glob[sel, pa]
    ga, gb = new_globals
    q[sel, a] = mat_to_q(np.swapaxes(g_parent, -1, -2) @ ga)
    q[sel, b] = mat_to_q(np.swapaxes(ga, -1, -2) @ gb)
    if keep_end_global:
        q[sel, c] = mat_to_q(np.swapaxes(gb, -1, -2) @ glob[sel, c])
    return q


# =====================================================================================
# contacts
# =====================================================================================

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.asarray(mask, bool).astype(np.int8)
    if m.size == 0:
        return []
    d = np.diff(np.concatenate([[0], m, [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def clean_mask(mask: np.ndarray, min_len: int, max_gap: int) -> np.ndarray:
    """Fill False gaps up to ``max_gap`` frames inside, then drop True runs shorter than ``min_len``."""
    m = np.asarray(mask, bool).copy()
    for a, b in _runs(~m):
        if a > 0 and b < m.size and b - a <= max_gap:
            m[a:b] = True
    for a, b in _runs(m):
        if b - a < min_len:
            m[a:b] = False
    return m


def detect_foot_contacts(pos: np.ndarray, rest: np.ndarray, fps: float,
                         config: CleanupConfig = CleanupConfig()) -> np.ndarray:
    """``[T, 2]`` bool contacts of the (left, right) toe joints from height and horizontal speed.

    A toe is down when it is within ``contact_height_m`` of the ground level (its rest height, or
    the clip's own low level when the feet sit higher) and slower than ``contact_speed_m_s`` plus
    ``contact_speed_rel`` x the pelvis speed (a stance foot that slides because the root travels
    faster than the stride is still a stance foot; a swinging foot is much faster than the pelvis)."""
    t = pos.shape[0]
    out = np.zeros((t, 2), bool)
    if t > 1:
        v_root = np.linalg.norm(np.gradient(pos[:, 0, [0, 2]], 1.0 / fps, axis=0), axis=-1)
    else:
        v_root = np.zeros(t)
    for k, j in enumerate(TOES):
        y = pos[:, j, 1]
        if t > 1:
            v = np.linalg.norm(np.gradient(pos[:, j, [0, 2]], 1.0 / fps, axis=0), axis=-1)
        else:
            v = np.zeros(t)
        ground = max(rest[j, 1], float(np.percentile(y, 10)) if t >= 10 else rest[j, 1])
        ground = min(ground, rest[j, 1] + 0.05)
        slow = v < config.contact_speed_m_s + config.contact_speed_rel * v_root
        raw = (y < ground + config.contact_height_m) & slow
        out[:, k] = clean_mask(raw, max(1, int(round(config.min_contact_s * fps))),
                               max(0, int(round(config.fill_gap_s * fps))))
    return out


def _lock_offsets(toe_xz: np.ndarray, contact: np.ndarray, release: int) -> np.ndarray:
    """Horizontal corrections ``[T, 2]`` that hold the toe still during each contact and fade out
    (smoothstep over ``release`` frames) after lift-off; touch-down is where the corrected toe was."""
    t = toe_xz.shape[0]
    off = np.zeros((t, 2))
    cur = np.zeros(2)
    lock = None
    rel_start, rel_from = -1, np.zeros(2)
    for i in range(t):
        if contact[i]:
            if lock is None:
                lock = toe_xz[i] + cur
            cur = lock - toe_xz[i]
            rel_start = -1
        else:
            if lock is not None:
                lock = None
                rel_start, rel_from = i, cur.copy()
            if rel_start >= 0:
                k = i - rel_start + 1
                cur = rel_from * (1.0 - float(smoothstep(k / max(release, 1))))
                if k >= release:
                    rel_start, cur = -1, np.zeros(2)
        off[i] = cur
    return off


# =====================================================================================
# the cleanup
# =====================================================================================

def cleanup_track(q: np.ndarray, root: np.ndarray, rest: np.ndarray, fps: float,
                  config: CleanupConfig = CleanupConfig(), contact_hint: np.ndarray | None = None,
                  no_lock: np.ndarray | None = None):
    """Smooth, detect contacts, lock feet, keep them above ground (see the module docstring).

    Args:
        q: ``[T, 22, 4]`` local rotations (w, x, y, z); root: ``[T, 3]`` metres; rest ``[22, 3]``.
        contact_hint: optional ``[T, 2]`` bool contacts OR-ed with the detected ones.
        no_lock: optional ``[T]`` bool frames where feet must not be locked (e.g. flight phases).
    Returns:
        ``(q, root, report)`` - new arrays and a :class:`CleanupReport`.
    """
    q = np.asarray(q, dtype=np.float64)
    root = np.asarray(root, dtype=np.float64)
    t = q.shape[0]
    q, root = smooth_track(q, root, config.smooth_sigma_frames)
    pos, glob = fk(q, root, rest, with_rotations=True)
    contacts = detect_foot_contacts(pos, rest, fps, config)
    if contact_hint is not None:
        contacts |= np.asarray(contact_hint, bool)
    if no_lock is not None:
        contacts &= ~np.asarray(no_lock, bool)[:, None]
    if not config.lock_feet:
        contacts[:] = False
    release = max(1, int(round(config.release_s * fps)))

    # targets
    ankle_tg = {}
    for k, (side, (hip, knee, ankle, toe)) in enumerate(LEGS.items()):
        off = _lock_offsets(pos[:, toe, [0, 2]], contacts[:, k], release)
        toe_t = pos[:, toe].copy()
        toe_t[:, [0, 2]] += off
        toe_t[:, 1] = np.maximum(toe_t[:, 1], config.toe_floor_m)
        ank = toe_t - (pos[:, toe] - pos[:, ankle])
        lift = np.maximum(config.ankle_floor_m - ank[:, 1], 0.0)
        ank[:, 1] += lift
        ankle_tg[side] = ank

    # lower the pelvis where a leg cannot reach (vertical only, smoothed)
    drop = np.zeros(t)
    for side, (hip, knee, ankle, toe) in LEGS.items():
        length = (np.linalg.norm(pos[:, knee] - pos[:, hip], axis=-1)
                  + np.linalg.norm(pos[:, ankle] - pos[:, knee], axis=-1)) * MAX_REACH
        v = ankle_tg[side] - pos[:, hip]
        horiz2 = v[:, 0] ** 2 + v[:, 2] ** 2
        need_y = np.sqrt(np.maximum(length ** 2 - horiz2, 0.0))
        deficit = np.where(np.linalg.norm(v, axis=-1) > length, -v[:, 1] - need_y, 0.0)
        drop = np.maximum(drop, np.maximum(deficit, 0.0))
    if drop.max() > 1e-6:
        w = max(1, int(round(0.1 * fps)))
        padded = np.pad(drop, w, mode="edge")
        dmax = np.max(np.stack([padded[i:i + t] for i in range(2 * w + 1)]), 0)   # grow, then smooth
        drop = gaussian_smooth(dmax, max(1.0, w / 2))
        drop = np.maximum(drop, 0.0)
        root = root - drop[:, None] * np.array([0.0, 1.0, 0.0])
        pos = pos - drop[:, None, None] * np.array([0.0, 1.0, 0.0])

    max_corr, max_res = 0.0, 0.0
    for side, (hip, knee, ankle, toe) in LEGS.items():
        tg = ankle_tg[side]
        corr = np.linalg.norm(tg - pos[:, ankle], axis=-1)
        sel = np.flatnonzero(corr > 1e-5)
        if sel.size == 0:
            continue
        max_corr = max(max_corr, float(corr.max()))
        hint = glob[sel, hip] @ np.array([0.0, 0.0, 1.0])
        ga, gb = two_bone_ik(pos[sel, hip], pos[sel, knee], pos[sel, ankle], glob[sel, hip], glob[sel, knee],
                             tg[sel], hint)
        q = set_chain_globals(q, glob, (hip, knee, ankle), [ga, gb], frames=sel)
        glob[sel, hip], glob[sel, knee] = ga, gb
    pos2 = fk(q, root, rest)
    for side, (hip, knee, ankle, toe) in LEGS.items():
        max_res = max(max_res, float(np.linalg.norm(pos2[:, ankle] - ankle_tg[side], axis=-1).max()))
    report = CleanupReport(contacts=contacts, locked_frames=int(contacts.any(1).sum()),
                           max_correction_m=max_corr, max_residual_m=max_res, max_pelvis_drop_m=float(drop.max()))
    return q, root, report
