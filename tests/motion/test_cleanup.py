"""Foot-contact cleanup: two-bone IK, zero-phase smoothing, contact detection, foot locking."""

import numpy as np
import pytest

from avatar3d.motion.cleanup import (
    CleanupConfig, _lock_offsets, cleanup_track, clean_mask, detect_foot_contacts, gaussian_smooth, two_bone_ik,
)
from avatar3d.motion.library import TOES, J, fk, load_library, qexp, q_to_mat
from avatar3d.motion.synthesis import sample_cycle

FPS = 30.0


@pytest.fixture(scope="module")
def lib():
    return load_library()


def _toe_skate_cm_s(pos, fps=FPS):
    """motion_check's definition: mean horizontal toe speed over frames with the toe < 5 cm up and
    slower than 0.5 m/s."""
    num, den = 0.0, 0
    for j in TOES:
        v = np.linalg.norm(np.gradient(pos[:, j, [0, 2]], 1.0 / fps, axis=0), axis=-1)
        c = (pos[:, j, 1] < 0.05) & (v < 0.5)
        num += v[c].sum()
        den += c.sum()
    return 100.0 * num / max(den, 1)


def test_two_bone_ik_reaches_reachable_targets_and_keeps_lengths():
    rng = np.random.default_rng(1)
    n = 200
    pa = rng.normal(size=(n, 3))
    ga = q_to_mat(qexp(rng.normal(size=(n, 3))))
    gb = ga @ q_to_mat(qexp(np.stack([rng.uniform(0.2, 1.5, n), np.zeros(n), np.zeros(n)], -1)))
    l1, l2 = 0.4, 0.38
    down = np.array([0.0, -1.0, 0.0])
    pb = pa + l1 * (ga @ down)
    pc = pb + l2 * (gb @ down)
    d = rng.uniform(0.1, 0.75, n)
    target = pa + d[:, None] * (lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True))(rng.normal(size=(n, 3)))
    ga2, gb2 = two_bone_ik(pa, pb, pc, ga, gb, target, np.broadcast_to([0, 0, 1.0], (n, 3)))
    pb2 = pa + l1 * (ga2 @ down)
    pc2 = pb2 + l2 * (gb2 @ down)
    np.testing.assert_allclose(pc2, target, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(pc2 - pb2, axis=-1), l2, atol=1e-9)
    # rotations stay rotations
    np.testing.assert_allclose(ga2 @ np.swapaxes(ga2, -1, -2), np.broadcast_to(np.eye(3), ga2.shape), atol=1e-9)
    # out of reach: the chain straightens towards the target
    far = pa + np.array([0.0, -2.0, 0.0])
    ga3, gb3 = two_bone_ik(pa, pb, pc, ga, gb, far, np.broadcast_to([0, 0, 1.0], (n, 3)))
    pc3 = pa + l1 * (ga3 @ down) + l2 * (gb3 @ down)
    assert np.allclose(np.linalg.norm(pc3 - pa, axis=-1), l1 + l2, atol=1e-3)
    assert (pc3[:, 1] < pa[:, 1] - 0.7).all()


def test_two_bone_ik_straight_leg_bends_towards_the_hint():
    pa = np.array([[0.0, 1.0, 0.0]])
    pb = np.array([[0.0, 0.6, 0.0]])
    pc = np.array([[0.0, 0.2, 0.0]])
    eye = np.eye(3)[None]
    target = np.array([[0.0, 0.4, 0.0]])        # needs a bent knee
    for hint, sign in (([0, 0, 1.0], 1), ([0, 0, -1.0], -1)):
        ga, gb = two_bone_ik(pa, pb, pc, eye, eye, target, np.array([hint]))
        knee = pa + 0.4 * (ga @ np.array([0, -1.0, 0]))
        assert sign * knee[0, 2] > 0.2


def test_gaussian_smooth_is_zero_phase_and_keeps_ends():
    t = np.arange(61, dtype=float)
    bump = np.exp(-0.5 * ((t - 30) / 3.0) ** 2)
    s = gaussian_smooth(bump, 2.0)
    assert int(np.argmax(s)) == 30 and s.max() < bump.max()
    ramp = 0.1 * t
    np.testing.assert_allclose(gaussian_smooth(ramp, 2.0), ramp, atol=1e-12)     # linear = untouched
    np.testing.assert_allclose(gaussian_smooth(np.ones((10, 3)), 1.0), 1.0)
    noisy = np.sin(t / 10.0) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    jerk = lambda x: np.abs(np.diff(x, 3)).mean()  # noqa: E731
    assert jerk(gaussian_smooth(noisy, 1.0)) < 0.3 * jerk(noisy)


def test_contact_mask_and_lock_offsets():
    m = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0], bool)
    np.testing.assert_array_equal(clean_mask(m, min_len=2, max_gap=1),
                                  [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    # a toe sliding at 1 cm/frame while in contact is held at its touch-down point, then released
    t = 40
    toe = np.stack([np.arange(t) * 0.01, np.zeros(t)], -1)
    contact = np.zeros(t, bool)
    contact[5:20] = True
    off = _lock_offsets(toe, contact, release=6)
    held = toe + off
    np.testing.assert_allclose(held[5:20], np.repeat(toe[5:6], 15, 0), atol=1e-12)
    assert np.abs(off[26:]).max() == 0.0
    # smooth release: a smoothstep over 6 frames moves at most 1.5 / 6 of the offset per frame
    assert np.all(np.abs(np.diff(off[19:27, 0])) <= 1.5 / 6 * abs(off[19, 0]) + 1e-9)


def test_detect_foot_contacts_from_height_and_speed(lib):
    u = lib.get("stand.base")
    q = np.repeat(u.q[:1], 30, 0)
    root = np.repeat(u.root[:1], 30, 0)
    pos = fk(q, root, lib.rest)
    assert detect_foot_contacts(pos, lib.rest, FPS).all()
    lifted = pos.copy()
    lifted[:, J["left_foot"], 1] += 0.2
    moving = pos.copy()
    moving[:, J["right_foot"], 0] += np.arange(30) * 0.05     # 1.5 m/s
    c1 = detect_foot_contacts(lifted, lib.rest, FPS)
    c2 = detect_foot_contacts(moving, lib.rest, FPS)
    assert not c1[:, 0].any() and c1[:, 1].all()
    assert c2[:, 0].all() and not c2[:, 1].any()


def test_cleanup_removes_skating_without_penetration(lib):
    walk = lib.get("walk.06_01.63")
    q, root = sample_cycle(walk, np.arange(3 * walk.num_frames, dtype=float))
    root = root.copy()
    root[:, [0, 2]] *= 1.15           # strides 15 % longer than the legs take: the feet skate
    raw = _toe_skate_cm_s(fk(q, root, lib.rest))
    q2, root2, rep = cleanup_track(q, root, lib.rest, FPS)
    pos2 = fk(q2, root2, lib.rest)
    fixed = _toe_skate_cm_s(pos2)
    assert raw > 10.0 and fixed < 0.2 * raw
    assert rep.locked_frames > 0.5 * len(q) and rep.max_residual_m < 0.02 and rep.max_pelvis_drop_m < 0.08
    assert pos2[:, [J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]], 1].min() > -1e-6
    # travel is kept: the root still covers the (scaled) distance
    assert abs((root2[-1, 2] - root2[0, 2]) - (root[-1, 2] - root[0, 2])) < 0.02
    # no lock, no smoothing -> unchanged
    q3, r3, rep3 = cleanup_track(q, root, lib.rest, FPS, CleanupConfig(smooth_sigma_frames=0.0, lock_feet=False,
                                                                         toe_floor_m=-1.0, ankle_floor_m=-1.0))
    np.testing.assert_allclose(fk(q3, r3, lib.rest), fk(q, root, lib.rest), atol=1e-9)
    assert rep3.locked_frames == 0
