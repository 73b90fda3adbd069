"""Motion -> animated avatar: retargeting, feet on the ground, scaling, GLB and MP4 outputs.

One real prompt ("walk forward 2 meters", parser + synthesis) drives the default Anny avatar and
a tall one; the expensive pieces are module-scoped fixtures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar3d.avatar import build_avatar
from avatar3d.avatar.animate import animate_avatar, avatar_skeleton, retarget_to_avatar, skin_vertices, toe_slots
from avatar3d.core.joints import SMPL22
from avatar3d.motion.io import motion_joint_positions, motion_to_npz_arrays
from avatar3d.motion.parser import parse_prompt
from avatar3d.motion.synthesis import synthesize

WALK_M = 2.0
#: The synthesised walk's contact frames keep its toe joints within a few cm of their rest height;
#: the skinned soles follow them to within this (metres, times the avatar's scale).
FOOT_TOLERANCE_M = 0.03


@pytest.fixture(scope="module")
def walk():
    plan = parse_prompt(f"walk forward {WALK_M:g} meters")
    return synthesize(plan, seed=0).motion


@pytest.fixture(scope="module")
def default_avatar(anny_body):
    return build_avatar(anny_body, torch.full((1, 6), 0.5))


@pytest.fixture(scope="module")
def default_animation(anny_body, default_avatar, walk):
    return animate_avatar(default_avatar, anny_body, walk)


def _foot_vertices(model, avatar, side: str) -> torch.Tensor:
    """Vertices mostly skinned to the foot/toe bones of one side (anny rig)."""
    names = model.bone_names
    cols = [i for i, n in enumerate(names) if (n.startswith("foot.") or n.startswith("toe")) and n.endswith("." + side)]
    skin = avatar.data.skin
    dense = torch.zeros(skin.indices.shape[0], len(names)).scatter_add_(1, skin.indices, skin.weights.float())
    return dense[:, cols].sum(1) > 0.5


def posed_smpl22(model, avatar, animation) -> torch.Tensor:
    """``[T, 22, 3]`` SMPL joints of the animated avatar, from its exported skinning transforms
    (a joint is the head of its bone: transform x bind head)."""
    heads = avatar.data.skeleton.rest_positions[model.smpl_bone_index].double()
    m = animation.transforms[:, model.smpl_bone_index].double()
    return torch.einsum("tjik,jk->tji", m[..., :3, :3], heads) + m[..., :3, 3]


def test_retarget_reproduces_the_canonical_joints_on_the_canonical_body(anny_body, default_avatar, default_animation, walk):
    # The canonical skeleton is the average Anny body, so the avatar's SMPL joints must follow the
    # canonical FK exactly (same metres, root scale 1).
    anim = default_animation
    assert anim.num_frames == walk.num_frames and anim.fps == walk.fps == 30.0
    assert abs(anim.root_scale - 1.0) < 1e-4
    joints = posed_smpl22(anny_body, default_avatar, anim)
    canonical = torch.from_numpy(motion_joint_positions(walk))
    assert float((joints - canonical).norm(dim=-1).max()) < 1e-3
    # and the canonical joints (motion.npz) walk the prompt's distance, in metres
    npz = motion_to_npz_arrays(walk)
    pelvis = npz["joints"][:, SMPL22.index("pelvis")]
    assert abs(float(np.linalg.norm(pelvis[-1, [0, 2]] - pelvis[0, [0, 2]])) - WALK_M) < 0.02


def test_avatar_vertices_follow_the_body_model(anny_body, default_avatar, default_animation):
    frames = [0, default_animation.num_frames // 2]
    verts = default_animation.vertices(default_avatar)[frames]
    params = default_animation.params
    sub = type(params)(shape=params.shape[frames], pose=params.pose[frames], global_orient=params.global_orient[frames],
                       transl=params.transl[frames])
    with torch.no_grad():
        model_verts = anny_body.forward(sub).vertices
    assert torch.allclose(verts, model_verts, atol=1e-4)


def test_feet_stay_on_the_ground_while_walking(anny_body, default_avatar, default_animation, walk):
    verts = default_animation.vertices(default_avatar)
    canonical = motion_joint_positions(walk)
    rest = walk.skeleton.rest_positions.numpy()
    contacts = walk.contacts.numpy()
    assert contacts[:, 0].sum() > 10 and contacts[:, 1].sum() > 10
    for k, (side, toe, ankle) in enumerate((("L", "left_foot", "left_ankle"), ("R", "right_foot", "right_ankle"))):
        sole = verts[:, _foot_vertices(anny_body, default_avatar, side), 1].min(dim=1).values.numpy()
        # the motion's own foot height: how far its toe/ankle joints are above their rest heights
        t, a = SMPL22.index(toe), SMPL22.index(ankle)
        expected = np.minimum(canonical[:, t, 1] - rest[t, 1], canonical[:, a, 1] - rest[a, 1])
        assert np.abs(sole - expected).max() < FOOT_TOLERANCE_M
        planted = contacts[:, k]
        assert np.abs(sole[planted]).max() < FOOT_TOLERANCE_M
        assert sole[~planted].max() > sole[planted].mean() + 0.01  # the swing foot does lift


def test_taller_avatar_scales_its_path_and_keeps_its_feet_planted(anny_body, walk):
    tall = build_avatar(anny_body, torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.9, 0.5]]))
    anim = animate_avatar(tall, anny_body, walk)
    assert anim.root_scale > 1.15
    joints = posed_smpl22(anny_body, tall, anim)
    canonical = torch.from_numpy(motion_joint_positions(walk))
    hips, hips_c = joints[:, 1:3].mean(1), canonical[:, 1:3].mean(1)
    assert torch.allclose(hips, anim.root_scale * hips_c, atol=2e-3)  # the whole path scales with the legs
    pelvis = joints[:, 0]
    walked = float((pelvis[-1, [0, 2]] - pelvis[0, [0, 2]]).norm())
    assert abs(walked - anim.root_scale * WALK_M) < 0.03
    verts = anim.vertices(tall)
    lowest = verts[..., 1].min(dim=1).values.numpy()
    contacts = walk.contacts.numpy()
    assert np.abs(lowest[contacts.any(1)]).max() < FOOT_TOLERANCE_M * anim.root_scale
    # planted toes do not slide (the tall body's other proportions make them drift by up to
    # ~1 m/s under the copied rotations alone; the feet are re-locked on its skeleton)
    for k, toe in enumerate(("left_foot", "right_foot")):
        xz = joints[:, SMPL22.index(toe)][:, [0, 2]].numpy()
        speed = np.linalg.norm(np.diff(xz, axis=0), axis=-1) * walk.fps
        both = contacts[1:, k] & contacts[:-1, k]
        assert both.sum() > 10 and speed[both].max() < 0.02
    # without path scaling the hips follow the canonical path in exact metres instead
    exact = retarget_to_avatar(walk, avatar_skeleton(anny_body, tall), scale=1.0)
    root = exact.root_translation
    assert abs(float((root[-1, [0, 2]] - root[0, [0, 2]]).norm()) - WALK_M) < 0.03


def test_foot_rotation_bends_all_toes_on_the_anny_rig(anny_body, default_animation):
    slots = toe_slots(anny_body)
    assert sorted(slots) == [SMPL22.index("left_foot"), SMPL22.index("right_foot")]
    names = anny_body.pose_joint_names
    for j, extra in slots.items():
        assert len(extra) == 4 and all(names[s].startswith("toe") for s in extra)
        main = anny_body.smpl22_pose_slots[j - 1]
        pose = default_animation.params.pose
        for s in extra:
            assert torch.equal(pose[:, s], pose[:, main])


def test_skin_vertices_checks_joint_count(default_avatar):
    mesh = default_avatar.data.mesh
    with pytest.raises(ValueError, match="joint"):
        skin_vertices(mesh.vertices, default_avatar.data.skin, torch.eye(4).expand(2, 3, 4, 4))


def test_animated_glb_validates_with_one_keyframe_per_frame(default_avatar, default_animation, tmp_path):
    from pygltflib import GLTF2

    from avatar3d.export.glb_skinned import SkeletalAnimation, write_avatar_glb
    from tests.helpers.gltf_validator import errors_of, validate

    clip = SkeletalAnimation.from_transforms(default_avatar.data.skeleton, default_animation.transforms, default_animation.fps)
    data = default_avatar.data
    path = write_avatar_glb(tmp_path / "avatar.glb", data.mesh, data.skeleton, data.skin, clip)
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    gltf = GLTF2().load(str(path))
    assert len(gltf.animations) == 1
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    assert times.count == default_animation.num_frames
    assert abs(times.max[0] - (default_animation.num_frames - 1) / 30.0) < 1e-4
    # the root moves the walk's distance (scale 1 for this avatar)
    root = clip.root_translation
    assert abs(float((root[-1, [0, 2]] - root[0, [0, 2]]).norm()) - WALK_M) < 0.03


def test_walk_renders_to_an_mp4_lasting_the_motion(anny_body, default_avatar, default_animation, walk, tmp_path):
    import imageio.v2 as imageio

    from avatar3d.render.video import iter_render_animation, write_mp4

    mesh = default_avatar.data.mesh
    red = torch.zeros(64, 64, 3)
    red[..., 0] = 0.9
    verts = default_animation.vertices(default_avatar)
    path = write_mp4(iter_render_animation(verts, mesh.faces, mesh.uvs, mesh.face_uvs, red, walk.fps, size=128),
                     walk.fps, tmp_path / "animation.mp4")
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        assert reader.count_frames() == walk.num_frames
        assert reader.get_meta_data()["fps"] == pytest.approx(30.0)
        last = reader.get_data(walk.num_frames - 1).astype(int)
    finally:
        reader.close()
    assert reader.count_frames() / 30.0 == pytest.approx(walk.duration_s)
    character = (last[..., 0] - last[..., 1] > 60).sum()
    assert character > 0.02 * last.shape[0] * last.shape[1]  # the (red) avatar is in the last frame
