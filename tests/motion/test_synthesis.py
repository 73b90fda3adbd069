"""Plan -> motion: exact quantities, layering, determinism, limits, the motion.npz contract.

Plans are built directly from the plan dataclasses (independent of the text parser), except one
end-to-end test through :func:`parse_prompt`.  Measurements follow motion_check's conventions
(heading from the hip and shoulder lines, + = left; end position = mean of the last 0.2 s).
"""

import math
import time

import numpy as np
import pytest

from avatar3d.core import Motion
from avatar3d.core.joints import SMPL22
from avatar3d.motion.io import motion_joint_positions, motion_to_npz_arrays, save_motion_npz
from avatar3d.motion.library import J, body_heading, load_library
from avatar3d.motion.plan import ActionStep, MotionPlan, PlanGroup
from avatar3d.motion.synthesis import MAX_DURATION_S, MAX_FRAMES, SynthesisConfig, synthesize, synthesize_text

FPS = 30.0


@pytest.fixture(scope="module")
def lib():
    return load_library()


def plan(*groups, max_duration_s=60.0):
    gs = tuple(PlanGroup(tuple(g) if isinstance(g, (list, tuple)) else (g,)) for g in groups)
    return MotionPlan(prompt="test", language="en", groups=gs, max_duration_s=max_duration_s)


def run(lib, *groups, seed=0, **kw):
    r = synthesize(plan(*groups, **kw), seed=seed, library=lib)
    return r, motion_joint_positions(r.motion)


def heading_deg(pos):
    h = np.unwrap(body_heading(pos))
    return np.degrees(h - h[0])


def end_xz(pos):
    return pos[-6:, 0][:, [0, 2]].mean(0) - pos[0, 0, [0, 2]]


def flights(pos, lib):
    lift = np.minimum(pos[:, J["left_foot"], 1], pos[:, J["right_foot"], 1]) - lib.rest[J["left_foot"], 1]
    air = np.concatenate([[0], (lift > 0.05).astype(int), [0]])
    d = np.diff(air)
    return int(np.sum((np.flatnonzero(d == -1) - np.flatnonzero(d == 1)) >= 2))


def test_walk_distance_is_exact_and_starts_at_origin_facing_z(lib):
    r, pos = run(lib, ActionStep("walk", distance_m=3.0, direction="forward"))
    assert np.hypot(*pos[0, 0, [0, 2]]) < 1e-6 and abs(heading_deg(pos[:1])[0]) < 1e-6
    assert abs(body_heading(pos[:1])[0]) < 1e-6
    x, z = end_xz(pos)
    assert z == pytest.approx(3.0, abs=0.05) and abs(x) < 0.15
    assert abs(heading_deg(pos)[-6:].mean()) < 10
    m = r.motion
    assert isinstance(m, Motion) and m.fps == FPS and m.skeleton.names == SMPL22
    assert m.contacts is not None and m.contacts.shape == (m.num_frames, 2)
    # feet on the ground, not under it
    feet = pos[:, [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]], 1]
    assert feet.min() > -1e-4 and np.median(feet.min(1)) < 0.05
    # walking: the pelvis travels ~1 m/s while moving
    assert 2.0 < r.duration_s < 6.0


@pytest.mark.parametrize("deg", [90.0, -90.0, 180.0])
def test_turn_in_place_hits_the_angle(lib, deg):
    r, pos = run(lib, ActionStep("turn", turn_deg=deg))
    assert heading_deg(pos)[-6:].mean() == pytest.approx(deg, abs=6.0)
    assert np.hypot(*end_xz(pos)) < 0.3


def test_circle_walk_returns_with_a_full_turn(lib):
    r, pos = run(lib, ActionStep("walk", distance_m=2 * math.pi, direction="circle", turn_deg=360.0))
    assert heading_deg(pos)[-6:].mean() == pytest.approx(360.0, abs=15.0)
    assert np.hypot(*end_xz(pos)) < 0.6
    path = np.sum(np.linalg.norm(np.diff(pos[:, 0, [0, 2]], axis=0), axis=-1))
    assert path > 5.0


def test_backward_and_sideways_walks(lib):
    r, pos = run(lib, ActionStep("walk", distance_m=1.0, direction="backward"))
    x, z = end_xz(pos)
    assert z == pytest.approx(-1.0, abs=0.05) and abs(x) < 0.15
    assert abs(heading_deg(pos)[-6:].mean()) < 10        # still facing forward
    r, pos = run(lib, ActionStep("walk", distance_m=1.5, direction="left"))
    x, z = end_xz(pos)
    assert x == pytest.approx(1.5, abs=0.05) and abs(z) < 0.15


def test_run_is_exact_and_fast(lib):
    r, pos = run(lib, ActionStep("run", distance_m=10.0, direction="forward"))
    assert end_xz(pos)[1] == pytest.approx(10.0, abs=0.05)
    v = np.linalg.norm(np.gradient(pos[:, 0, [0, 2]], 1 / FPS, axis=0), axis=-1)
    assert np.median(v[v > 0.5]) > 2.2
    assert flights(pos, lib) >= 4        # flight phases: a run, not a fast walk


def test_counts_jumps_and_steps(lib):
    r, pos = run(lib, ActionStep("jump", count=2, direction="in_place"))
    assert flights(pos, lib) == 2 and np.hypot(*end_xz(pos)) < 0.6
    r, pos = run(lib, ActionStep("jump", count=3, direction="in_place"), seed=3)
    assert flights(pos, lib) == 3
    r, pos = run(lib, ActionStep("jump", count=1, distance_m=1.0, direction="forward"))
    assert end_xz(pos)[1] == pytest.approx(1.0, abs=0.1)
    r, pos = run(lib, ActionStep("walk", steps=3, direction="forward"))
    assert 0.6 < end_xz(pos)[1] < 3.0


def test_postures_and_gestures(lib):
    r, pos = run(lib, ActionStep("sit_down"))
    assert pos[-6:, 0, 1].mean() < 0.65 * pos[0, 0, 1]
    r, pos = run(lib, ActionStep("raise_arms", side="both", duration_s=2.0))
    up = (pos[:, J["left_wrist"], 1] > pos[:, J["head"], 1]) & (pos[:, J["right_wrist"], 1] > pos[:, J["head"], 1])
    assert up.sum() / FPS > 1.0
    r, pos = run(lib, ActionStep("clap", count=3))
    d = np.linalg.norm(pos[:, J["left_wrist"]] - pos[:, J["right_wrist"]], axis=-1)
    closes = np.sum((d[1:] < 0.15) & (d[:-1] >= 0.15))
    assert closes == 3
    r, pos = run(lib, ActionStep("kick", count=1, side="left"))
    lift = pos[:, J["left_ankle"], 1] - pos[0, J["left_ankle"], 1]
    other = pos[:, J["right_ankle"], 1] - pos[0, J["right_ankle"], 1]
    assert lift.max() > 0.35 and other.max() < 0.1
    r, pos = run(lib, ActionStep("bow"))
    torso = pos[:, J["neck"]] - pos[:, 0]
    pitch = np.degrees(np.arctan2(torso[:, 2], torso[:, 1]))
    assert pitch.max() > 25 and abs(pitch[-6:].mean()) < 12


def test_wave_layered_over_walking(lib):
    r, pos = run(lib, [ActionStep("walk", distance_m=3.0, direction="forward"), ActionStep("wave", side="right")])
    assert end_xz(pos)[1] == pytest.approx(3.0, abs=0.05)
    raised = pos[:, J["right_wrist"], 1] > pos[:, J["right_shoulder"], 1] - 0.1
    other = pos[:, J["left_wrist"], 1] > pos[:, J["left_shoulder"], 1] - 0.1
    moving = np.linalg.norm(np.gradient(pos[:, 0, [0, 2]], 1 / FPS, axis=0), axis=-1) > 0.5
    assert (raised & moving).sum() / FPS > 1.0 and not other.any()
    assert any(s.action == "wave" and s.layer for s in r.segments)


def test_sequence_order_and_heading_carry_over(lib):
    r, pos = run(lib, ActionStep("walk", distance_m=2.0, direction="forward"), ActionStep("turn", turn_deg=90.0),
                 ActionStep("walk", distance_m=1.0, direction="forward"))
    x, z = end_xz(pos)
    assert z == pytest.approx(2.0, abs=0.15) and x == pytest.approx(1.0, abs=0.15)   # the second walk goes left
    acts = [s.action for s in r.segments if not s.layer]
    assert acts == ["lead_in", "walk", "turn", "walk", "settle"]
    assert all(a.t1 <= b.t0 + 1e-9 for a, b in zip(r.segments, r.segments[1:]) if not (a.layer or b.layer))


def test_deterministic_per_seed_and_varied_across_seeds(lib):
    g = (ActionStep("walk", distance_m=2.0, direction="forward"), ActionStep("jump", count=2, direction="in_place"))
    a = motion_joint_positions(synthesize(plan(*g), seed=5, library=lib).motion)
    b = motion_joint_positions(synthesize(plan(*g), seed=5, library=lib).motion)
    np.testing.assert_array_equal(a, b)
    others = [motion_joint_positions(synthesize(plan(*g), seed=s, library=lib).motion) for s in (6, 7)]
    assert any(o.shape != a.shape or np.abs(o - a).max() > 0.01 for o in others)


def test_duration_cap_and_absurd_quantities_stay_bounded(lib):
    t0 = time.perf_counter()
    r, pos = run(lib, ActionStep("walk", distance_m=1e6, direction="forward"))
    assert r.motion.num_frames <= MAX_FRAMES and any("cap" in w for w in r.warnings)
    r2, _ = run(lib, ActionStep("jump", count=50), ActionStep("turn", turn_deg=3600.0),
                ActionStep("walk", distance_m=1e6, direction="left"), ActionStep("clap", count=50))
    assert r2.motion.num_frames <= MAX_FRAMES
    r3, _ = run(lib, ActionStep("walk", distance_m=1e6, direction="left"))
    assert r3.motion.num_frames <= MAX_FRAMES
    short = synthesize(plan(ActionStep("walk", distance_m=50.0, direction="forward"), max_duration_s=5.0),
                       library=lib)
    assert short.motion.num_frames <= 5 * FPS + 1
    assert time.perf_counter() - t0 < 10.0
    assert MAX_DURATION_S == 60.0 and SynthesisConfig().max_duration_s <= MAX_DURATION_S


def test_npz_contract_round_trip(tmp_path, lib):
    r, pos = run(lib, ActionStep("wave", side="left"))
    arrays = motion_to_npz_arrays(r.motion)
    assert set(arrays) == {"fps", "joint_names", "joints"}
    assert arrays["joints"].dtype == np.float32 and arrays["joints"].shape == (r.motion.num_frames, 22, 3)
    assert arrays["joint_names"].dtype.kind == "U" and list(arrays["joint_names"]) == list(SMPL22)
    assert float(arrays["fps"]) == FPS and arrays["fps"].shape == ()
    path = save_motion_npz(r.motion, tmp_path / "out" / "motion.npz")
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["joints"], arrays["joints"])
    np.testing.assert_allclose(arrays["joints"], pos, atol=1e-5)
    # the left hand waves, the right stays down
    assert (pos[:, J["left_wrist"], 1] > pos[:, J["left_shoulder"], 1]).sum() > FPS
    assert not (pos[:, J["right_wrist"], 1] > pos[:, J["right_shoulder"], 1] - 0.1).any()


def test_text_end_to_end():
    p, r = synthesize_text("Walk forward two meters, then wave with your right hand.", seed=1)
    assert p.actions == (("walk",), ("wave",))
    pos = motion_joint_positions(r.motion)
    assert end_xz(pos)[1] == pytest.approx(2.0, abs=0.1)
    acts = [s.action for s in r.segments if not s.layer]
    assert acts.index("walk") < acts.index("wave")


def test_authored_generators_are_exact_on_their_own(lib):
    from avatar3d.motion import authored as au
    from avatar3d.motion.library import fk

    u = lib.get("stand.base")
    base = au.BasePose(q=u.q[0], root_y=float(u.root[0, 1]), rest=lib.rest)
    for deg in (90.0, -135.0):
        tr = au.author_turn(base, deg)
        pos = fk(tr.q, tr.root, lib.rest)
        assert heading_deg(pos)[-1] == pytest.approx(deg, abs=3.0)
        # both feet planted at the end, side by side, turned with the body
        assert tr.contacts[-1].all()
    tr = au.author_sidestep(base, 1.2, "right")
    pos = fk(tr.q, tr.root, lib.rest)
    assert pos[-1, 0, 0] - pos[0, 0, 0] == pytest.approx(-1.2, abs=0.02)
    tr = au.author_run(base, 7.0)
    assert tr.root[-1, 2] - tr.root[0, 2] == pytest.approx(7.0, abs=0.02)
    assert (~tr.contacts.any(1)).sum() > 5          # flight frames
    tr = au.author_clap(base, 4)
    assert len(tr.events["clap"]) == 4
