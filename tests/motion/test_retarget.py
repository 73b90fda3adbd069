"""Retargeting CMU clips to the canonical SMPL-22 skeleton, and the canonical skeleton asset."""

import numpy as np
import pytest
import torch

from avatar3d.core import Motion
from avatar3d.core.joints import SMPL22, SMPL22_PARENTS, mirror_name
from avatar3d.core.kinematics import forward_kinematics
from avatar3d.core.rotations import axis_angle_to_quaternion, quaternion_to_matrix
from avatar3d.motion.canonical import load_canonical_skeleton
from avatar3d.motion.retarget import (
    UnsupportedClipError,
    cmu_clips,
    detect_joint_map,
    load_cmu_clip,
    minimal_rotation,
    resample,
    retarget,
    retarget_quality,
)
from tests.motion.cmu_data import cmu_dir, cmu_file

# One clip per skeleton family: cgspeed MB BVH (with T-pose frame), ASF/AMC, 3ds Max-named BVH.
CLIPS = {"05_01.bvh": "mb", "08_04.amc": "asf", "131_01.bvh": "max"}


@pytest.fixture(scope="module")
def retargeted():
    out = {}
    for name in CLIPS:
        clip = load_cmu_clip(cmu_file(name))
        out[name] = (clip, retarget(clip), retarget(clip, align_floor=False))
    return out


def test_canonical_skeleton_asset():
    sk = load_canonical_skeleton()
    assert sk.names == SMPL22 and sk.parents == SMPL22_PARENTS
    rest = sk.rest_positions
    assert rest.dtype == torch.float32 and load_canonical_skeleton(dtype=torch.float64).rest_positions.dtype == torch.float64
    # world frame: feet just above y = 0, head ~1.5 m, left (+x) / right mirror images, A-pose wrists
    assert 0.0 < float(rest[[10, 11], 1].min()) < 0.05 and 1.4 < float(rest[15, 1]) < 1.6
    mirrored = rest[[SMPL22.index(mirror_name(n)) for n in SMPL22]]
    torch.testing.assert_close(mirrored * torch.tensor([-1.0, 1, 1]), rest, atol=1e-3, rtol=0)
    assert float(rest[SMPL22.index("left_wrist"), 1]) < float(rest[SMPL22.index("left_shoulder"), 1]) - 0.2


def test_canonical_skeleton_equals_anny_average_body(anny_body):
    """The asset is AnnyBody.smpl22_skeleton of the average body (regenerate with
    scripts/build_canonical_skeleton.py if Anny changes)."""
    expected = anny_body.smpl22_skeleton(torch.full((1, 6), 0.5)).rest_positions
    torch.testing.assert_close(load_canonical_skeleton().rest_positions, expected.float(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", list(CLIPS))
def test_retarget_gives_a_valid_motion(retargeted, name):
    clip, motion, _ = retargeted[name]
    assert detect_joint_map(clip).variant == CLIPS[name]
    assert isinstance(motion, Motion) and motion.fps == clip.fps == 120.0
    assert motion.local_rotations.shape == (clip.num_frames, 22, 4)
    assert motion.root_translation.shape == (clip.num_frames, 3) and motion.contacts is None
    norms = motion.local_rotations.norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-5, rtol=0)
    assert motion.skeleton.names == SMPL22
    torch.testing.assert_close(motion.skeleton.rest_positions, load_canonical_skeleton().rest_positions)
    # the pelvis stays at a standing height, y up
    assert 0.6 < float(motion.root_translation[:, 1].median()) < 1.0


@pytest.mark.parametrize("name", list(CLIPS))
def test_retarget_reproduces_cmu_bone_directions(retargeted, name):
    clip, motion, _ = retargeted[name]
    q = retarget_quality(clip, motion)
    detail = {k: round(v, 4) for k, v in q.bone_cosine.items()}
    # limbs, neck->head and the hip line follow the source's posed directions
    assert q.mean_matched_cosine > 0.98, detail
    assert q.min_matched_cosine > 0.9, detail
    assert len(q.matched) == 12
    # the spine and collars transfer rotations instead and keep a fixed rest offset
    assert q.mean_cosine > 0.95, detail
    assert q.bone_cosine["shoulder_line"] > 0.98, detail


@pytest.mark.parametrize("name", ["05_01.bvh", "08_04.amc"])
def test_walking_feet_touch_the_ground(retargeted, name):
    clip, motion, raw = retargeted[name]
    rest_foot = float(load_canonical_skeleton().rest_positions[[10, 11], 1].mean())
    # Bone-length scaling alone puts the stance foot within a few cm of the canonical rest
    # height (CMU's floor calibration differs per subject: 08_04 sinks ~4 cm) ...
    lower = retarget_quality(clip, raw).foot_height
    assert abs(np.percentile(lower, 10) - rest_foot) < 0.05
    # ... and the floor alignment puts it there: in every frame one foot is on the ground.
    lower = retarget_quality(clip, motion).foot_height
    assert abs(np.percentile(lower, 10) - rest_foot) < 1e-3
    assert np.percentile(lower, 2) > -0.02 and np.percentile(lower, 50) < 0.08
    # and the ankle in stance is near its rest height too
    ankle = retarget_quality(clip, motion).ankle_height
    assert abs(np.percentile(ankle, 10) - float(load_canonical_skeleton().rest_positions[7, 1])) < 0.05


def test_resample_to_30_fps(retargeted):
    _, motion, _ = retargeted["05_01.bvh"]
    out = resample(motion, 30.0)
    assert out.fps == 30.0 and out.num_frames == (motion.num_frames - 1) // 4 + 1
    torch.testing.assert_close(out.local_rotations, motion.local_rotations[::4], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.root_translation, motion.root_translation[::4])
    # between frames: slerp / lerp halfway
    q = axis_angle_to_quaternion(torch.tensor([[[0.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]]).expand(2, 22, 3))
    two = Motion(fps=1.0, skeleton=motion.skeleton, local_rotations=q, root_translation=torch.tensor([[0.0, 1, 0], [2, 1, 0]]))
    mid = resample(two, 2.0)
    assert mid.num_frames == 3
    torch.testing.assert_close(mid.local_rotations[1], axis_angle_to_quaternion(torch.tensor([0.0, 0.5, 0.0])).expand(22, 4))
    torch.testing.assert_close(mid.root_translation[1], torch.tensor([1.0, 1, 0]))
    assert retarget(load_cmu_clip(cmu_file("05_01.bvh")), fps=30.0).num_frames == out.num_frames


def test_canonical_motion_drives_anny(anny_body, retargeted):
    """Putting each SMPL joint's local rotation on the Anny bone whose head is that joint moves
    Anny's SMPL-22 joints exactly where canonical FK puts them."""
    from avatar3d.body.anny_backend import smpl22_bones
    from avatar3d.core import BodyParams

    _, motion, _ = retargeted["08_04.amc"]
    frames = [0, 100, 200, 300]
    local = quaternion_to_matrix(motion.local_rotations[frames])
    skeleton = motion.skeleton
    pos, _ = forward_kinematics(skeleton.parents, skeleton.rest_positions, local, motion.root_translation[frames])
    bones = list(anny_body.pose_joint_names)
    pose = torch.eye(3).repeat(len(frames), len(bones), 1, 1)
    for j, bone in enumerate(smpl22_bones("anny")):
        if j:
            pose[:, bones.index(bone)] = local[:, j]
    pelvis_height = skeleton.rest_positions[0, 1]
    params = BodyParams(
        shape=torch.full((len(frames), 6), 0.5),
        pose=pose,
        global_orient=local[:, 0],
        transl=motion.root_translation[frames] - torch.tensor([0.0, 1.0, 0.0]) * pelvis_height,
    )
    out = anny_body(params)
    torch.testing.assert_close(out.smpl22, pos, atol=1e-4, rtol=0)


def test_cc_iclone_clips_are_refused_and_listed():
    infos = {i.file: i for i in cmu_clips(cmu_dir())}
    cc = [i for i in infos.values() if i.variant == "cc_iclone"]
    assert cc and all(not i.usable and "licence" in i.reason for i in cc)
    assert infos["05_01.bvh"].usable and infos["08_04.amc"].usable
    with pytest.raises(UnsupportedClipError, match="licence"):
        load_cmu_clip(cmu_file("02_02.bvh"))


def test_minimal_rotation():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 50, 3, generator=g, dtype=torch.float64).numpy()
    a[0], b[0] = [1.0, 0, 0], [-2.0, 0, 0]  # antiparallel
    r = minimal_rotation(a, b)
    moved = np.einsum("nij,nj->ni", r, a / np.linalg.norm(a, axis=1, keepdims=True))
    np.testing.assert_allclose(moved, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)


def test_clips_outside_the_cmu_folder_are_recognised_by_their_content(tmp_path):
    """Without sources.tsv beside the file, the T-pose frame and foreign rigs are detected."""
    import shutil

    shutil.copy(cmu_file("05_01.bvh"), tmp_path / "05_01.bvh")
    shutil.copy(cmu_file("02_02.bvh"), tmp_path / "02_02.bvh")
    clip = load_cmu_clip(tmp_path / "05_01.bvh")
    assert clip.dropped_tpose and clip.num_frames == 598
    with pytest.raises(UnsupportedClipError, match="cc_iclone"):
        load_cmu_clip(tmp_path / "02_02.bvh")
    assert load_cmu_clip(cmu_file("141_16.bvh")).fps == 60.0  # README: subject 141 is 60 fps
