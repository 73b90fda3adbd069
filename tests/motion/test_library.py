"""The motion library: the shipped asset, unit invariants, storage, mirroring, loop seams."""

import json
import math

import numpy as np
import pytest

from avatar3d.motion.library import (
    LIBRARY_FPS, MotionLibrary, MotionUnit, body_heading, close_loop, continuous, fk, library_path, load_library,
    make_unit, mirror_track, mirror_unit, normalise_start, qexp, qlog, qmul, qnormalize, qrot, qslerp, qyaw, q_to_mat,
    mat_to_q, yaw_of,
)
from avatar3d.motion.synthesis import sample_cycle

MAX_ASSET_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def lib():
    return load_library()


def test_shipped_asset_is_compact_and_has_provenance(lib):
    path = library_path()
    assert path.stat().st_size < MAX_ASSET_BYTES
    prov = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert prov["summary"]["units"] == len(lib)
    assert {u["name"] for u in prov["units"]} == {u.name for u in lib.units}
    assert "CMU Graphics Lab" in prov["credit"]
    # every unit says where it came from; no clip of the excluded cc_iclone rig is used
    cc_iclone = {"02_02", "02_03", "02_04", "02_05", "02_06", "03_01", "03_02"} | {f"07_{k:02d}" for k in range(1, 13)}
    for u in lib.units:
        assert u.source.startswith(("cmu:", "authored:")), u.name
        assert not any(c in u.source for c in cc_iclone), u.name


def test_library_covers_the_actions_it_promises(lib):
    need = {"walk": 4, "walk_backward": 4, "jump": 4, "jump_forward": 2, "wave": 2, "kick": 2, "squat": 2, "bow": 1,
            "sit_down": 1, "idle": 1, "dance": 2, "spin": 2, "jumping_jacks": 1, "stand": 1}
    have = lib.actions()
    for action, n in need.items():
        assert have.get(action, 0) >= n, (action, have)
    assert {u.side for u in lib.find("wave")} == {"left", "right"}
    assert {u.side for u in lib.find("kick")} == {"left", "right"}
    assert {np.sign(u.turn_deg) for u in lib.find("spin")} == {-1.0, 1.0}
    assert all(u.kind == "cycle" for u in lib.find("walk") + lib.find("walk_backward") + lib.find("idle"))


def test_every_unit_is_a_valid_normalised_track(lib):
    for u in lib.units:
        assert u.fps == LIBRARY_FPS and u.q.shape == (u.num_frames, 22, 4)
        np.testing.assert_allclose(np.linalg.norm(u.q, axis=-1), 1.0, atol=1e-4)
        assert np.isfinite(u.root).all()
        # starts over the origin; the pelvis between a deep squat and a jump
        assert np.hypot(u.root[0, 0], u.root[0, 2]) < 1e-3, u.name
        assert 0.2 < u.root[:, 1].min() and u.root[:, 1].max() < 1.4, u.name
        if u.kind == "oneshot" and u.action != "stand":
            h = math.degrees(float(body_heading(fk(u.q[:1], u.root[:1], lib.rest))[0]))
            assert abs(h) < 2.0, (u.name, h)


def test_walk_cycles_have_gait_features_and_loop_seamlessly(lib):
    for u in lib.find("walk"):
        assert 0.8 < u.stride_m < 1.6 and 0.6 < u.speed_m_s < 1.5, u.name
        assert u.stride_xz[1] > 0 and abs(u.stride_xz[0]) < 1e-6
        assert u.events["pass_left"] and u.events["pass_right"]
        # both feet have contact phases
        sides = {s for s, a, b in u.contact_phases()}
        assert sides == {"left", "right"}, u.name
        # across the loop seam the joints move no more than between ordinary frames
        q, r = sample_cycle(u, np.arange(2 * u.num_frames, dtype=float))
        pos = fk(q, r, lib.rest)
        step = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(-1)
        seam = step[u.num_frames - 1]
        assert seam < 1.6 * np.percentile(step, 95) + 0.005, (u.name, seam)
    for u in lib.find("walk_backward"):
        assert u.stride_xz[1] < 0 and "reverse" in u.ops


def test_mirror_unit_reflects_the_body(lib):
    u = lib.get("wave.141_16")
    m = mirror_unit(u, "tmp")
    assert m.side == "left" and u.side == "right"
    p = fk(u.q, u.root, lib.rest)
    pm = fk(m.q, m.root, lib.rest)
    from avatar3d.motion.library import MIRROR_INDEX
    # the canonical skeleton is left/right symmetric to ~1 mm
    np.testing.assert_allclose(pm[:, MIRROR_INDEX] * [-1, 1, 1], p, atol=2e-3)
    np.testing.assert_array_equal(m.contacts, u.contacts[:, ::-1])


def test_save_load_round_trip_and_validation(tmp_path, lib):
    units = (lib.find("walk")[0], lib.find("jump")[0], lib.get("stand.base"))
    small = MotionLibrary(units=units, rest=lib.rest, info={"note": "test"})
    path = small.save(tmp_path / "lib.npz")
    back = MotionLibrary.load(path)
    assert [u.name for u in back.units] == [u.name for u in units] and back.info["note"] == "test"
    for a, b in zip(units, back.units):
        assert b.events == a.events and b.stride_xz == pytest.approx(a.stride_xz) and b.kind == a.kind
        np.testing.assert_allclose(fk(b.q, b.root, lib.rest), fk(a.q, a.root, lib.rest), atol=2e-4)
    with pytest.raises(ValueError, match="duplicate"):
        MotionLibrary(units=(units[0], units[0]), rest=lib.rest)
    with pytest.raises(ValueError, match="kind"):
        make_unit("x", "walk", "loop", units[0].q, units[0].root, lib.rest)
    with pytest.raises(ValueError, match=r"\[T, 22, 4\]"):
        MotionUnit("x", "walk", "cycle", None, 30.0, units[0].q[:, :10], units[0].root, units[0].contacts)


def test_quaternion_toolkit_against_matrices():
    rng = np.random.default_rng(0)
    q = qnormalize(rng.normal(size=(50, 4)))
    v = rng.normal(size=(50, 3))
    np.testing.assert_allclose(qrot(q, v), np.einsum("nij,nj->ni", q_to_mat(q), v), atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(mat_to_q(q_to_mat(q)) * q, -1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(q_to_mat(qexp(qlog(q))), q_to_mat(q), atol=1e-12)
    a, b = q[:25], q[25:]
    np.testing.assert_allclose(np.abs(np.sum(qslerp(a, b, 1.0) * b, -1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(yaw_of(qyaw(np.array([0.3, -2.0]))), [0.3, -2.0], atol=1e-12)
    np.testing.assert_allclose(q_to_mat(qmul(a, b)), q_to_mat(a) @ q_to_mat(b), atol=1e-12)
    flipped = q.copy()
    flipped[1::2] *= -1
    c = continuous(flipped)
    assert (np.sum(c[1:] * c[:-1], -1) >= 0).all()


def test_normalise_start_and_close_loop(lib):
    u = lib.find("walk")[0]
    q, r = u.q.copy(), u.root.copy()
    q2, r2 = mirror_track(*mirror_track(q, r))
    np.testing.assert_allclose(q2, q, atol=1e-12)
    # turn + move a track, normalising brings it back to the origin facing +Z
    from avatar3d.motion.library import rotate_track
    qt, rt = rotate_track(q, r + [1.0, 0, 2.0], 1.1)
    qn, rn, h = normalise_start(qt, rt, lib.rest)
    assert np.hypot(rn[0, 0], rn[0, 2]) < 1e-9
    assert abs(body_heading(fk(qn[:1], rn[:1], lib.rest))[0]) < 1e-6
    # close_loop spreads the seam mismatch linearly: a root that overshoots the stride by delta
    # at the seam is pulled back by k/T * delta at frame k (and poses likewise)
    t = 20
    rr = np.zeros((t, 3)) + np.arange(t)[:, None] * [0.0, 0.0, 0.05]
    qq = np.repeat(q[:1], t, 0)
    delta = np.array([0.01, 0.02, 0.03])
    q_next = qmul(qexp(np.array([0.0, 0.2, 0.0]))[None], q[:1])[0]
    qa, ra = close_loop(qq, rr, q_next, rr[-1] + [0, 0, 0.05] + delta, np.array([0.0, t * 0.05]), 0.0)
    np.testing.assert_allclose(ra, rr - (np.arange(t) / t)[:, None] * delta, atol=1e-12)
    np.testing.assert_allclose(qa[0], qq[0], atol=1e-12)
    ang = [np.linalg.norm(qlog(qmul(qa[k], q[0] * [1, -1, -1, -1])), axis=-1).max() for k in range(t)]
    assert np.all(np.diff(ang) > 0) and ang[-1] < 0.2
