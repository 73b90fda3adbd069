"""BVH and ASF/AMC readers: a handmade BVH checked by hand, and real CMU files."""

import numpy as np
import pytest

from avatar3d.motion.asf_amc import read_asf_amc
from avatar3d.motion.bvh import CMU_UNIT_M, BVHParseError, looks_like_tpose_frame, parse_bvh, read_bvh
from tests.motion.cmu_data import cmu_file

# Lengths in centimetres; tabs, CRLF line ends, blank lines and a different channel order per
# joint on purpose.  Frame 0 is the rest pose; frame 1 rotates things by 90 degrees.
HANDMADE = (
    "HIERARCHY\r\n"
    "ROOT Hips\r\n{\r\n\tOFFSET 0 90 0\r\n"
    "\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\r\n"
    "\tJOINT Chest\r\n\t{\r\n\t\tOFFSET 0 10 0\r\n\t\tCHANNELS 3 Xrotation Yrotation Zrotation\r\n"
    "\t\tJOINT Arm\r\n\t\t{\r\n\t\t\tOFFSET 5 0 0\r\n\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation\r\n"
    "\t\t\tEnd Site\r\n\t\t\t{\r\n\t\t\t\tOFFSET 4 0 0\r\n\t\t\t}\r\n\t\t}\r\n\t}\r\n}\r\n"
    "MOTION\r\nFrames:   2\r\nFrame Time: 0.0333333\r\n\r\n"
    "0 0 0  0 0 0  0 0 0  0 0 0\r\n"
    "1 2 3  90 0 0  90 0 0  90 90 0\r\n"
)


def test_handmade_bvh_forward_kinematics_by_hand():
    clip = parse_bvh(HANDMADE, metres_per_unit=0.01, drop_tpose=False)
    assert clip.names == ("Hips", "Chest", "Arm") and clip.parents == (-1, 0, 1)
    assert clip.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    assert clip.num_frames == 2 and clip.fps == 30.0
    np.testing.assert_allclose(clip.offsets, [[0, 0.9, 0], [0, 0.1, 0], [0.05, 0, 0]])
    np.testing.assert_allclose(clip.end_sites[2], [0.04, 0, 0])
    pos, rot = clip.forward_kinematics()
    ends = clip.end_site_positions(pos, rot)[2]
    # Frame 0: rest pose; the root OFFSET is added to its position channels.
    np.testing.assert_allclose(pos[0], [[0, 0.9, 0], [0, 1.0, 0], [0.05, 1.0, 0]], atol=1e-12)
    np.testing.assert_allclose(ends[0], [0.09, 1.0, 0], atol=1e-12)
    # Frame 1 by hand.  Root: at (1, 92, 3) cm, turned 90 deg about Z (x -> y, y -> -x).
    # Chest = root + Rz (0, 10, 0) = (-9, 92, 3); chest global = Rz Rx.
    # Arm = chest + Rz Rx (5, 0, 0) = chest + (0, 5, 0) = (-9, 97, 3).
    # Arm local = Rz Rx (channels Z then X); End = arm + Rz Rx Rz Rx (4, 0, 0):
    # Rx (4,0,0) = (4,0,0); Rz -> (0,4,0); Rx -> (0,0,4); Rz -> (0,0,4).  End = (-9, 97, 7).
    np.testing.assert_allclose(pos[1] * 100, [[1, 92, 3], [-9, 92, 3], [-9, 97, 3]], atol=1e-9)
    np.testing.assert_allclose(ends[1] * 100, [-9, 97, 7], atol=1e-9)
    # Rotations are orthonormal and chain: G[arm] = G[chest] @ local[arm].
    local = clip.local_rotations()
    np.testing.assert_allclose(rot[1, 2], rot[1, 1] @ local[1, 2], atol=1e-12)
    np.testing.assert_allclose(rot[1, 2] @ rot[1, 2].T, np.eye(3), atol=1e-12)


def test_channel_order_is_the_matrix_product_order():
    """``Zrotation Xrotation`` = Rz @ Rx (X applied first), not the reverse."""
    text = HANDMADE.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Xrotation Zrotation Yrotation")
    clip = parse_bvh(text, metres_per_unit=0.01, drop_tpose=False)
    pos, rot = clip.forward_kinematics()
    ends = clip.end_site_positions(pos, rot)[2]
    # Now the arm local is Rx(90) Rz(90) applied to values "90 90": Rz first then Rx.
    # Rz (4,0,0) = (0,4,0); Rx -> (0,0,4); chest Rx -> (0,-4,0); root Rz -> (4,0,0).
    np.testing.assert_allclose(ends[1] * 100, [-5, 97, 3], atol=1e-9)


def test_whitespace_and_unit_guess_and_errors():
    lf = HANDMADE.replace("\r\n", "\n").replace("\t", "    ")
    a = parse_bvh(HANDMADE, metres_per_unit=0.01, drop_tpose=False)
    b = parse_bvh(lf, metres_per_unit=0.01, drop_tpose=False)
    np.testing.assert_allclose(a.values, b.values)
    np.testing.assert_allclose(a.offsets, b.offsets)
    with pytest.raises(BVHParseError, match="length unit"):  # 10 cm tall: no unit fits
        parse_bvh(lf)
    with pytest.raises(BVHParseError, match="multiple"):
        parse_bvh(lf.rstrip() + " 5\n", metres_per_unit=0.01)
    with pytest.raises(BVHParseError, match="MOTION"):
        parse_bvh(lf.split("MOTION")[0], metres_per_unit=0.01)
    with pytest.raises(BVHParseError, match="unknown channel"):
        parse_bvh(lf.replace("Xrotation Yrotation Zrotation", "Xrotation Yrotation Wrotation"), metres_per_unit=0.01)


def test_tpose_frame_detection():
    rest_then_motion = np.array([[0.0, 0, -21, 0, 21, 0, 0, 0], [1.2, -3.5, -20.7, 0.4, 19.9, 0.3, 2.2, 0.1]])
    assert looks_like_tpose_frame(rest_then_motion)
    assert not looks_like_tpose_frame(rest_then_motion[::-1])
    # The handmade file's frame 0 is integral and all zero, frame 1 integral too: kept.
    assert parse_bvh(HANDMADE, metres_per_unit=0.01).num_frames == 2
    assert parse_bvh(HANDMADE, metres_per_unit=0.01, drop_tpose=True).num_frames == 1


def _standing_height(clip, hip, knee, ankle, toe, head):
    """Height of the skeleton standing straight (metres): the root above the hip joint, the
    straightened leg (hip-knee-ankle bone lengths), the ankle above the toe joint at rest, and
    the straightened trunk from the root to the head End Site."""
    rest = clip.rest_positions()
    idx = clip.index
    leg = np.linalg.norm(rest[idx(knee)] - rest[idx(hip)]) + np.linalg.norm(rest[idx(ankle)] - rest[idx(knee)])
    trunk, j = np.linalg.norm(clip.end_sites[idx(head)]), idx(head)
    while j > 0:
        trunk += np.linalg.norm(clip.offsets[j])
        j = clip.parents[j]
    return (rest[0, 1] - rest[idx(hip), 1]) + leg + (rest[idx(ankle), 1] - rest[idx(toe), 1]) + trunk


def test_real_cmu_bvh_mb2_with_tpose():
    clip = read_bvh(cmu_file("05_01.bvh"), metres_per_unit=CMU_UNIT_M)  # T-pose auto-detected
    assert clip.dropped_tpose and clip.num_frames == 599 - 1
    assert clip.fps == 120.0 and len(clip.names) == 31 and clip.values.shape[1] == 96
    pos, rot = clip.forward_kinematics()
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, list(clip.parents[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(clip.bone_lengths()[1:], lengths.shape), atol=1e-9)
    assert 0.85 < np.median(pos[:, 0, 1]) < 1.1  # hips about 1 m up while walking
    # cgspeed's BVH drop CMU's thorax bone (~0.11 m) and the head End Site is not the crown,
    # so this skeleton stands ~1.48 m from toe joint to head tip (the full ASF is ~0.1 m taller).
    height = _standing_height(clip, "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "Head")
    assert 1.4 < height < 1.9
    # The unit guess recognises CMU units (rest skeleton ~1.3 m / 0.0564 m per unit).
    assert read_bvh(cmu_file("05_01.bvh")).metres_per_unit == CMU_UNIT_M
    # Without auto-detection the T-pose stays: all its rotations are integers.
    raw = read_bvh(cmu_file("05_01.bvh"), metres_per_unit=CMU_UNIT_M, drop_tpose=False)
    assert raw.num_frames == 599 and np.allclose(raw.values[0, 3:], np.round(raw.values[0, 3:]))


def test_real_cmu_asf_amc():
    clip = read_asf_amc(cmu_file("08.asf"), cmu_file("08_04.amc"))
    assert clip.num_frames == 484 and clip.fps == 120.0 and len(clip.names) == 31
    assert clip.names[0] == "root" and clip.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert clip.channels[clip.index("ltibia")] == ("Xrotation",)  # dof rx only
    assert abs(clip.metres_per_unit - 0.0254 / 0.45) < 1e-12
    # the femur bone (3 dof) starts at the hip, one lhipjoint length from the root
    np.testing.assert_allclose(np.linalg.norm(clip.offsets[clip.index("lfemur")]), 2.5146 * CMU_UNIT_M)
    pos, rot = clip.forward_kinematics()
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, list(clip.parents[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(clip.bone_lengths()[1:], lengths.shape), atol=1e-9)
    assert 0.8 < np.median(pos[:, 0, 1]) < 1.1
    assert 1.5 < _standing_height(clip, "lfemur", "ltibia", "lfoot", "ltoes", "head") < 1.9
    # Walking: both feet reach the floor region and the knees bend forwards (flexion), i.e. the
    # ankle passes behind the hip-knee line when the shin swings back.
    for side in "lr":
        toes = pos[:, clip.index(f"{side}toes"), 1]
        assert np.percentile(toes, 5) < 0.05
        hip, knee, ankle = (pos[:, clip.index(f"{side}{b}")] for b in ("femur", "tibia", "foot"))
        thigh, shin = knee - hip, ankle - knee
        cos = np.sum(thigh * shin, -1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shin, axis=-1)
        bend = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        assert 30 < bend.max() < 90  # swing-phase knee flexion of a slow walk
        # flexion, not hyperextension: (thigh x shin) points to the person's left
        left = pos[:, clip.index("lfemur")] - pos[:, clip.index("rfemur")]
        flexion = np.sum(np.cross(thigh, shin) * left, -1) > 0
        assert flexion[bend > 20].mean() > 0.95
