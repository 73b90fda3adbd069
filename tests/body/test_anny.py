import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avatar3d.body import BodyConfig, BodyModel, create_body_model
from avatar3d.body.anny_backend import ANNY_PHENOTYPES, smpl22_bones
from avatar3d.core import BodyParams
from avatar3d.core.joints import COCO17, SMPL22, mirror_name
from avatar3d.core.rotations import axis_angle_to_matrix, rotation_about_axis


def rest(model, batch=1, shape_value=0.5):
    p = model.default_params(batch)
    return dataclasses.replace(p, shape=torch.full_like(p.shape, shape_value))


def test_protocol_and_output_shapes(anny_body):
    assert isinstance(anny_body, BodyModel)
    out = anny_body.forward(rest(anny_body, batch=3))
    v = anny_body.num_vertices
    assert out.vertices.shape == (3, v, 3) and out.rest_vertices.shape == (3, v, 3)
    assert out.faces.shape[1] == 3 and out.faces.dtype == torch.int64 and int(out.faces.max()) < v
    assert out.smpl22.shape == (3, 22, 3) and out.coco17.shape == (3, 17, 3)
    nb = len(anny_body.bone_names)
    assert out.joints.shape == (3, nb, 3) and out.joint_transforms.shape == (3, nb, 4, 4)
    assert anny_body.uvs.shape[1] == 2 and anny_body.face_uvs.shape == out.faces.shape
    assert float(anny_body.uvs.min()) >= 0.0 and float(anny_body.uvs.max()) <= 1.0


@pytest.mark.parametrize("shape_value", [0.0, 0.5, 1.0])
def test_world_frame_at_rest(anny_body, shape_value):
    out = anny_body.forward(rest(anny_body, shape_value=shape_value))
    v = out.vertices[0]
    joints = dict(zip(SMPL22, out.smpl22[0]))
    coco = dict(zip(COCO17, out.coco17[0]))
    assert float(v[:, 1].min()) == pytest.approx(0.0, abs=1e-4)  # feet on the floor
    assert float(joints["pelvis"][0]) == pytest.approx(0.0, abs=1e-5)
    assert float(joints["pelvis"][2]) == pytest.approx(0.0, abs=1e-5)
    assert joints["head"][1] > joints["pelvis"][1] > joints["left_knee"][1] > joints["left_ankle"][1]  # Y up
    assert coco["nose"][2] > joints["head"][2]  # facing +Z: the nose is in front of the head joint
    for name in ("left_hip", "left_shoulder", "left_wrist", "left_ankle"):  # own left is +X
        assert joints[name][0] > 0 > joints[mirror_name(name)][0]
    assert coco["left_eye"][0] > 0 > coco["right_eye"][0]


def test_joint_placement_is_anatomical(anny_body):
    out = anny_body.forward(rest(anny_body))
    j = dict(zip(SMPL22, out.smpl22[0]))
    height = float(out.vertices[0, :, 1].max())
    assert 1.5 < height < 1.8
    # proportions of an adult: pelvis near half height, knees near a quarter
    assert 0.45 < float(j["pelvis"][1]) / height < 0.6
    assert 0.2 < float(j["left_knee"][1]) / height < 0.35
    assert float(j["spine1"][1]) < float(j["spine2"][1]) < float(j["spine3"][1]) < float(j["neck"][1]) < float(j["head"][1])
    # the COCO nose sits on the face, in front of and above the neck
    coco = dict(zip(COCO17, out.coco17[0]))
    assert float(coco["nose"][1]) > float(j["neck"][1])


def test_global_orient_rotates_about_pelvis_and_transl_moves(anny_body):
    base = rest(anny_body)
    turn = rotation_about_axis("y", torch.tensor(torch.pi / 2))[None]
    t = torch.tensor([[0.3, 0.0, -1.0]])
    out0 = anny_body.forward(base)
    out1 = anny_body.forward(dataclasses.replace(base, global_orient=turn, transl=t))
    pelvis0, pelvis1 = out0.smpl22[0, 0], out1.smpl22[0, 0]
    assert torch.allclose(pelvis1, pelvis0 + t[0], atol=1e-5)
    # facing +Z turned 90 degrees about +Y faces +X: the nose moves to +X of the pelvis
    nose = out1.coco17[0, 0] - pelvis1
    assert float(nose[0]) > 0.05 and abs(float(nose[2])) < 0.05


def test_pose_moves_the_right_limb(anny_body):
    base = rest(anny_body)
    pose = base.pose.clone()
    k = anny_body.pose_joint_names.index(smpl22_bones("anny")[SMPL22.index("left_elbow")])
    pose[0, k] = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.2]))
    out0 = anny_body.forward(base)
    out1 = anny_body.forward(dataclasses.replace(base, pose=pose))
    moved = (out1.smpl22[0] - out0.smpl22[0]).norm(dim=-1)
    wrist, left_elbow = SMPL22.index("left_wrist"), SMPL22.index("left_elbow")
    assert float(moved[wrist]) > 0.05
    assert float(moved[left_elbow]) < 1e-5 and float(moved[SMPL22.index("right_wrist")]) < 1e-5


def test_joint_transforms_reskin_the_mesh(anny_body):
    g = torch.Generator().manual_seed(0)
    pose = axis_angle_to_matrix(0.3 * torch.randn(2, len(anny_body.pose_joint_names), 3, generator=g))
    params = BodyParams(shape=torch.rand(2, 6, generator=g), pose=pose,
                        global_orient=axis_angle_to_matrix(torch.randn(2, 3, generator=g)), transl=torch.randn(2, 3, generator=g))
    out = anny_body.forward(params)
    skin = anny_body.skin
    dense = torch.zeros(anny_body.num_vertices, len(anny_body.bone_names)).scatter_add_(1, skin.indices, skin.weights)
    homogeneous = torch.cat((out.rest_vertices, torch.ones_like(out.rest_vertices[..., :1])), -1)
    blended = torch.einsum("vj,bjkl->bvkl", dense, out.joint_transforms)
    reskinned = torch.einsum("bvkl,bvl->bvk", blended, homogeneous)[..., :3]
    assert torch.allclose(reskinned, out.vertices, atol=1e-4)
    assert torch.allclose(dense.sum(1), torch.ones(anny_body.num_vertices), atol=1e-5)


def test_gradients_flow_to_shape_and_pose(anny_body):
    params = rest(anny_body)
    shape = params.shape.clone().requires_grad_(True)
    pose = params.pose.clone().requires_grad_(True)
    orient = params.global_orient.clone().requires_grad_(True)
    out = anny_body.forward(BodyParams(shape=shape, pose=pose, global_orient=orient, transl=params.transl))
    (out.vertices[..., 1].mean() + out.smpl22[:, SMPL22.index("left_wrist")].sum() + out.coco17.sum()).backward()
    assert shape.grad is not None and float(shape.grad.abs().sum()) > 0
    assert torch.isfinite(shape.grad).all()
    assert float(shape.grad[0, ANNY_PHENOTYPES.index("height")].abs()) > 0
    assert pose.grad is not None and float(pose.grad.abs().sum()) > 0
    assert orient.grad is not None and float(orient.grad.abs().sum()) > 0


def test_float64_matches_float32(anny_body, anny_body64):
    out32 = anny_body.forward(rest(anny_body, shape_value=0.3))
    out64 = anny_body64.forward(rest(anny_body64, shape_value=0.3))
    assert out64.vertices.dtype == torch.float64
    assert torch.allclose(out64.vertices.float(), out32.vertices, atol=1e-4)


def test_shape_for_height(anny_body):
    shape = anny_body.shape_for_height(1.83)
    assert float(anny_body.standing_height(shape)[0]) == pytest.approx(1.83, abs=0.002)
    with pytest.raises(ValueError, match=r"height must be within \[.*\] m .* got 3.000 m"):
        anny_body.shape_for_height(3.0)


def test_bad_input_names_argument_expected_and_actual(anny_body):
    p = rest(anny_body)
    with pytest.raises(ValueError, match=r"params.shape must have shape \[B, 6\], got \[1, 5\]"):
        anny_body.forward(dataclasses.replace(p, shape=p.shape[:, :5]))
    with pytest.raises(ValueError, match=r"params.pose must have shape \[1, 103, 3, 3\], got \[1, 22, 3, 3\]"):
        anny_body.forward(dataclasses.replace(p, pose=p.pose[:, :22]))
    with pytest.raises(ValueError, match=r"params.shape values must lie in \[0.0, 1.0\], got values in \[0.5, 1.7\]"):
        anny_body.forward(dataclasses.replace(p, shape=torch.tensor([[0.5, 0.5, 0.5, 1.7, 0.5, 0.5]])))
    with pytest.raises(ValueError, match="NaN"):
        anny_body.forward(dataclasses.replace(p, shape=torch.full((1, 6), float("nan"))))
    with pytest.raises(ValueError, match=r"rig must be one of .* got 'blender'"):
        BodyConfig(rig="blender")
    with pytest.raises(ValueError, match=r"body model must be one of .* got 'smpl'"):
        create_body_model(BodyConfig(model="smpl"))


def test_mixamo_rig_same_mesh_mixamo_names():
    """A second rig: Mixamo bone names (for Mixamo clips in Unity/Unreal), same world frame."""
    model = create_body_model(BodyConfig(rig="mixamo"))
    assert "mixamorig:Hips" in model.bone_names and "mixamorig:LeftForeArm" in model.bone_names
    out = model.forward(rest(model))
    j = dict(zip(SMPL22, out.smpl22[0]))
    assert float(out.vertices[0, :, 1].min()) == pytest.approx(0.0, abs=1e-4)
    assert j["left_wrist"][0] > 0 > j["right_wrist"][0]
    assert j["head"][1] > j["pelvis"][1] > j["left_knee"][1]
    # the hand landmarks are defined on the anny rig's bones (the rig the fitter uses)
    assert model.hand_keypoint_names == () and model.hand_pose_slots == ()


@pytest.mark.slow
@pytest.mark.parametrize("rig", ["game_engine", "cmu_mb"])
def test_other_rigs(rig):
    model = create_body_model(BodyConfig(rig=rig))
    out = model.forward(rest(model))
    j = dict(zip(SMPL22, out.smpl22[0]))
    assert float(out.vertices[0, :, 1].min()) == pytest.approx(0.0, abs=1e-4)
    assert j["left_shoulder"][0] > 0 > j["right_shoulder"][0]
    assert j["head"][1] > j["pelvis"][1] > j["left_knee"][1] > j["left_ankle"][1]


def test_skinning_matches_annys_own(anny_body64):
    """Our sparse skinning gives what Anny's own (dense) skinning gives for the same transforms."""
    model = anny_body64.model
    g = torch.Generator().manual_seed(0)
    params = rest(anny_body64, batch=2)
    pose = axis_angle_to_matrix(0.4 * torch.randn(2, len(anny_body64.pose_joint_names), 3, generator=g, dtype=torch.float64))
    params = dataclasses.replace(params, pose=pose, shape=torch.rand(2, len(ANNY_PHENOTYPES), generator=g, dtype=torch.float64))
    out = anny_body64.forward(params)
    deltas = anny_body64._anny_pose(params)
    _, phenotypes, local_changes, facial = model.get_tensor_inputs(deltas, params.shape, None, None)
    rest_model = model.get_rest_model(model._get_phenotype_blendshape_coefficients(phenotypes, local_changes, facial))
    transforms, _ = model.get_bone_transforms(deltas, rest_model["rest_bone_poses"])
    theirs = model.get_skinned_vertices(rest_model["rest_vertices"], transforms)
    # same mesh up to the rigid placement into the world frame: compare edge vectors' lengths
    faces = out.faces
    def edge_lengths(v):
        return (v[:, faces[:, 1]] - v[:, faces[:, 0]]).norm(dim=-1)
    assert torch.allclose(edge_lengths(out.vertices), edge_lengths(theirs), atol=1e-9)


def test_building_the_body_keeps_warp_out():
    """Anny's default skinning imports NVIDIA Warp (slow start, a CUDA warning on stderr)."""
    code = ("import sys; from avatar3d.body.anny_backend import AnnyBody; AnnyBody(); "
            "print('warp' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert "warp" not in done.stderr.lower()
