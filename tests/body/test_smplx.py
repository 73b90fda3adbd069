"""SMPL-X backend on a synthetic, structurally valid SMPL-X file loaded by the real `smplx` code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

smplx = pytest.importorskip("smplx")
import smplx.joint_names  # noqa: E402
import smplx.vertex_ids  # noqa: E402

from avatar3d.body import BodyConfig, BodyModel, create_body_model  # noqa: E402
from avatar3d.body.base import SMPLX_DIR_ENV  # noqa: E402
from avatar3d.body.smplx_backend import (  # noqa: E402
    SMPLX_JOINT_NAMES,
    SMPLX_SHAPE_RANGE,
    SMPLXBody,
    SMPLXFilesMissing,
    find_smplx_file,
)
from avatar3d.core import BodyParams  # noqa: E402
from avatar3d.core.joints import COCO17, SMPL22, SMPL22_PARENTS  # noqa: E402
from avatar3d.core.rotations import axis_angle_to_matrix, rotation_about_axis  # noqa: E402
from tests.body.smplx_fixture import FACE_KEYPOINT_IDS, write_synthetic_smplx  # noqa: E402

NUM_POSE = 54


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return write_synthetic_smplx(tmp_path_factory.mktemp("smplx"))


@pytest.fixture(scope="module")
def body(model_file) -> SMPLXBody:
    return SMPLXBody(BodyConfig(model="smplx", smplx_dir=str(model_file.parent)))


def random_params(body, batch_size=2, seed=0, pose_scale=0.4, orient=True) -> BodyParams:
    g = torch.Generator().manual_seed(seed)
    dt = body.dtype
    params = body.default_params(batch_size)
    aa = pose_scale * torch.randn(batch_size, NUM_POSE, 3, generator=g, dtype=dt)
    go = axis_angle_to_matrix(torch.randn(batch_size, 3, generator=g, dtype=dt)) if orient else params.global_orient
    return BodyParams(
        shape=torch.randn(batch_size, len(body.shape_names), generator=g, dtype=dt),
        pose=axis_angle_to_matrix(aa),
        global_orient=go,
        transl=torch.randn(batch_size, 3, generator=g, dtype=dt),
    )


def test_loads_through_real_smplx_and_matches_its_forward(body, model_file):
    assert isinstance(body.model, smplx.SMPLXLayer)
    assert isinstance(body, BodyModel)
    assert body.name == "smplx"
    assert SMPLX_JOINT_NAMES == tuple(smplx.joint_names.JOINT_NAMES[:55])
    assert body.pose_joint_names == SMPLX_JOINT_NAMES[1:] and len(body.pose_joint_names) == NUM_POSE
    assert body.pose_joint_names[:21] == SMPL22[1:]
    assert body.shape_names == tuple(f"beta{i}" for i in range(10))
    assert body.shape_range == SMPLX_SHAPE_RANGE
    # Same vertices as smplx's own forward (global_orient as its root rotation), up to placement.
    params = random_params(body)
    out = body(params)
    reference = smplx.SMPLXLayer(model_path=str(model_file), ext="npz")
    p = params.pose
    ref = reference(
        betas=params.shape, global_orient=params.global_orient, body_pose=p[:, :21], jaw_pose=p[:, 21],
        leye_pose=p[:, 22], reye_pose=p[:, 23], left_hand_pose=p[:, 24:39], right_hand_pose=p[:, 39:54],
    )
    ours = out.vertices - out.joints[:, :1]
    theirs = ref.vertices - ref.joints[:, :1]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints - out.joints[:, :1], ref.joints[:, :55] - ref.joints[:, :1], atol=1e-5, rtol=0)


def test_output_shapes(body):
    out = body(random_params(body, batch_size=3))
    v = body.model.v_template.shape[0]
    assert out.vertices.shape == (3, v, 3) and out.rest_vertices.shape == (3, v, 3)
    assert out.joints.shape == (3, 55, 3) and out.joint_transforms.shape == (3, 55, 4, 4)
    assert out.smpl22.shape == (3, 22, 3) and out.coco17.shape == (3, 17, 3)
    assert out.faces.dtype == torch.int64 and out.faces.shape[1] == 3 and int(out.faces.max()) < v
    assert body.uvs is None and body.face_uvs is None
    assert body.skin.indices.shape == (v, 4) and body.skin.indices.dtype == torch.int64
    torch.testing.assert_close(body.skin.weights.sum(1), torch.ones(v))
    assert out.vertices.dtype == torch.float32


def test_rest_frame_feet_pelvis_left_front(body):
    g = torch.Generator().manual_seed(1)
    params = body.default_params(4)
    shapes = torch.cat((torch.zeros(1, 10), 2 * torch.randn(3, 10, generator=g).clamp(-2.4, 2.4)))
    out = body(BodyParams(shapes, params.pose, params.global_orient, params.transl))
    # Lowest vertex on the floor, pelvis above the origin, for every shape.
    torch.testing.assert_close(out.vertices[..., 1].min(1).values, torch.zeros(4), atol=1e-6, rtol=0)
    pelvis = out.smpl22[:, 0]
    torch.testing.assert_close(pelvis[:, [0, 2]], torch.zeros(4, 2), atol=1e-6, rtol=0)
    assert bool((pelvis[:, 1] > 0.7).all()) and bool((pelvis[:, 1] < 1.2).all())
    # The shape changes the body (and so the pelvis height).
    assert float(pelvis[:, 1].max() - pelvis[:, 1].min()) > 1e-3
    height = out.vertices[0, :, 1].max()
    assert 1.5 < float(height) < 2.0
    j = {n: out.smpl22[0, i] for i, n in enumerate(SMPL22)}
    for side in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
        assert float(j[f"left_{side}"][0]) > 0.03 > -0.03 > float(j[f"right_{side}"][0]), side
    assert float(j["head"][1]) > float(j["neck"][1]) > float(j["pelvis"][1]) > float(j["left_knee"][1])
    # Facing +Z: toes in front of the ankles, nose in front of the head joint.
    coco = {n: out.coco17[0, i] for i, n in enumerate(COCO17)}
    assert float(j["left_foot"][2]) > float(j["left_ankle"][2]) + 0.05
    assert float(coco["nose"][2]) > float(j["head"][2]) + 0.05
    assert float(coco["left_eye"][0]) > 0 > float(coco["right_eye"][0])
    assert float(coco["left_ear"][0]) > 0 > float(coco["right_ear"][0])


def test_named_keypoints_come_from_smplx_ids_and_joints(body):
    out = body(random_params(body))
    for coco_name, key in (("nose", "nose"), ("left_eye", "leye"), ("right_eye", "reye"), ("left_ear", "lear")):
        vid = smplx.vertex_ids.vertex_ids["smplx"][key]
        assert vid == FACE_KEYPOINT_IDS[key]
        torch.testing.assert_close(out.coco17[:, COCO17.index(coco_name)], out.vertices[:, vid])
    for name in COCO17[5:]:
        torch.testing.assert_close(out.coco17[:, COCO17.index(name)], out.smpl22[:, SMPL22.index(name)])
    torch.testing.assert_close(out.smpl22, out.joints[:, :22])


def test_pose_is_world_aligned_local_rotation(body):
    params = body.default_params(1)
    rest = body(params)
    pose = params.pose.clone()
    rz = rotation_about_axis("z", math.pi / 2).to(pose)
    pose[0, body.pose_joint_names.index("left_shoulder")] = rz
    out = body(BodyParams(params.shape, pose, params.global_orient, params.transl))
    s, w = SMPL22.index("left_shoulder"), SMPL22.index("left_wrist")
    torch.testing.assert_close(out.smpl22[0, w] - out.smpl22[0, s], rz @ (rest.smpl22[0, w] - rest.smpl22[0, s]), atol=1e-5, rtol=0)
    assert float(out.smpl22[0, w, 1] - out.smpl22[0, s, 1]) > 0.4  # arm raised (+X -> +Y about +Z)
    torch.testing.assert_close(out.smpl22[0, :16], rest.smpl22[0, :16])  # the rest of the body stays


def test_global_orient_rotates_about_pelvis(body):
    posed = random_params(body, batch_size=2, orient=False)
    posed = BodyParams(posed.shape, posed.pose, posed.global_orient, torch.zeros_like(posed.transl))
    base = body(posed)
    g = torch.Generator().manual_seed(3)
    rot = axis_angle_to_matrix(torch.randn(2, 3, generator=g))
    transl = torch.randn(2, 3, generator=g)
    out = body(BodyParams(posed.shape, posed.pose, rot, transl))
    torch.testing.assert_close(out.smpl22[:, 0], base.smpl22[:, 0] + transl, atol=1e-6, rtol=0)
    expected = torch.einsum("bij,bnj->bni", rot, base.vertices - base.smpl22[:, :1]) + (base.smpl22[:, :1] + transl[:, None])
    torch.testing.assert_close(out.vertices, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.rest_vertices, base.rest_vertices)


def test_gradients_reach_shape_pose_and_orient(body):
    params = random_params(body)
    leaves = [params.shape.requires_grad_(), params.pose.requires_grad_(), params.global_orient.requires_grad_()]
    out = body(params)
    loss = out.vertices.square().sum() + out.coco17.square().sum() + out.joints[..., 1].sum()
    loss.backward()
    for leaf in leaves:
        assert leaf.grad is not None and bool(torch.isfinite(leaf.grad).all())
        assert float(leaf.grad.abs().max()) > 0
    # The pose gradient reaches the hand joints too.
    assert float(params.pose.grad[:, 24:].abs().sum()) > 0


def test_joint_transforms_reskin_rest_vertices(body):
    params = random_params(body, batch_size=2, seed=5)
    out = body(params)
    w = body.model.lbs_weights  # dense [V, 55]
    homo = torch.cat((out.rest_vertices, torch.ones_like(out.rest_vertices[..., :1])), -1)
    per_joint = torch.einsum("bjik,bvk->bvji", out.joint_transforms[..., :3, :], homo)
    posed = torch.einsum("vj,bvji->bvi", w, per_joint)
    torch.testing.assert_close(posed, out.vertices, atol=1e-5, rtol=0)
    # Joints are where the transforms take their rest positions (the rest skeleton).
    rest = body.rest_skeleton(params.shape[:1])
    moved = out.joint_transforms[0, :, :3, :3] @ rest.rest_positions[..., None]
    torch.testing.assert_close(moved.squeeze(-1) + out.joint_transforms[0, :, :3, 3], out.joints[0], atol=1e-5, rtol=0)
    # At identity pose the bind mesh is the rest body itself.
    ident = body.default_params(1)
    ident = BodyParams(params.shape[:1], ident.pose, ident.global_orient, ident.transl)
    at_rest = body(ident)
    torch.testing.assert_close(at_rest.rest_vertices, at_rest.vertices, atol=1e-6, rtol=0)


def test_skeletons(body):
    shape = torch.zeros(1, 10)
    out = body(body.default_params(1))
    skel = body.rest_skeleton(shape)
    assert skel.names == SMPLX_JOINT_NAMES and skel.parents[:22] == SMPL22_PARENTS
    assert skel.parents[22:25] == (15, 15, 15) and skel.parents[25] == 20 and skel.parents[40] == 21
    torch.testing.assert_close(skel.rest_positions, out.joints[0])
    smpl = body.smpl22_skeleton(shape)
    assert smpl.names == SMPL22 and smpl.parents == SMPL22_PARENTS
    torch.testing.assert_close(smpl.rest_positions, out.smpl22[0])


def test_float64(model_file, body):
    body64 = SMPLXBody(BodyConfig(model="smplx", smplx_dir=str(model_file.parent), dtype="float64"))
    assert body64.dtype == torch.float64
    params = random_params(body64)
    out = body64(params)
    assert out.vertices.dtype == out.joint_transforms.dtype == out.coco17.dtype == torch.float64
    p32 = BodyParams(*(t.float() for t in (params.shape, params.pose, params.global_orient, params.transl)))
    torch.testing.assert_close(out.vertices.float(), body(p32).vertices, atol=2e-5, rtol=0)


def test_reachable_through_config_and_env(model_file, monkeypatch, tmp_path):
    monkeypatch.delenv(SMPLX_DIR_ENV, raising=False)
    by_config = create_body_model(BodyConfig(model="smplx", smplx_dir=str(model_file.parent)))
    assert isinstance(by_config, SMPLXBody) and by_config.path == model_file
    monkeypatch.setenv(SMPLX_DIR_ENV, str(model_file.parent))
    by_env = create_body_model(BodyConfig(model="smplx"))
    assert isinstance(by_env, SMPLXBody) and by_env.path == model_file
    # The smplx.create layout (DIR/smplx/SMPLX_NEUTRAL.npz) is found too.
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").symlink_to(model_file)
    assert find_smplx_file(tmp_path) == tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"


def test_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.delenv(SMPLX_DIR_ENV, raising=False)
    with pytest.raises(SMPLXFilesMissing) as unset:
        create_body_model(BodyConfig(model="smplx"))
    assert isinstance(unset.value, ValueError)
    msg = str(unset.value)
    for needle in (SMPLX_DIR_ENV, "--smplx-dir", "https://smpl-x.is.tue.mpg.de", "SMPL-X v1.1 (NPZ+PKL)",
                   "SMPLX_NEUTRAL.npz", "licence"):
        assert needle in msg, needle
    empty = tmp_path / "my_models"
    empty.mkdir()
    monkeypatch.setenv(SMPLX_DIR_ENV, str(empty))
    with pytest.raises(SMPLXFilesMissing) as missing:
        create_body_model(BodyConfig(model="smplx", smplx_gender="female"))
    msg = str(missing.value)
    assert str(empty / "SMPLX_FEMALE") in msg and SMPLX_DIR_ENV in msg and "https://smpl-x.is.tue.mpg.de" in msg


def test_broken_file_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", v_template=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="not a valid SMPL-X file") as err:
        SMPLXBody(BodyConfig(model="smplx", smplx_dir=str(tmp_path)))
    assert str(tmp_path / "SMPLX_NEUTRAL.npz") in str(err.value)


def test_bad_inputs_name_the_argument(body, model_file):
    ok = body.default_params(2)

    def call(**changes):
        fields = {"shape": ok.shape, "pose": ok.pose, "global_orient": ok.global_orient, "transl": ok.transl}
        fields.update(changes)
        return body(BodyParams(**fields))

    with pytest.raises(ValueError, match=r"params\.pose must have shape \[2, 54, 3, 3\], got \[2, 21, 3, 3\]"):
        call(pose=ok.pose[:, :21])
    with pytest.raises(ValueError, match=r"params\.shape must have shape \[B, 10\], got \[2, 11\]"):
        call(shape=torch.zeros(2, 11))
    with pytest.raises(ValueError, match=r"params\.shape values must lie in \[-5\.0, 5\.0\], got values in \[0, 6\]"):
        call(shape=torch.tensor([[6.0] + [0.0] * 9] * 2))
    with pytest.raises(ValueError, match=r"params\.shape contains NaN"):
        call(shape=torch.full((2, 10), float("nan")))
    with pytest.raises(ValueError, match=r"params\.global_orient must have shape \[2, 3, 3\], got \[2, 3\]"):
        call(global_orient=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"params\.transl must have shape \[2, 3\], got \[1, 3\]"):
        call(transl=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="params must be a BodyParams"):
        body({"shape": ok.shape})
    with pytest.raises(ValueError, match=r"shape must have shape \[1, 10\], got \[2, 10\]"):
        body.rest_skeleton(ok.shape)
    directory = str(model_file.parent)
    with pytest.raises(ValueError, match="num_betas must be at most 10 .* got 12"):
        SMPLXBody(BodyConfig(model="smplx", smplx_dir=directory), num_betas=12)
    with pytest.raises(ValueError, match="rig must be 'anny'.*got rig='mixamo'"):
        SMPLXBody(BodyConfig(model="smplx", smplx_dir=directory, rig="mixamo"))
    with pytest.raises(ValueError, match="smplx_gender must be one of"):
        BodyConfig(model="smplx", smplx_gender="child")
    with pytest.raises(ValueError, match="body model must be one of"):
        BodyConfig(model="smpl")


def test_fewer_betas_and_uvs(tmp_path):
    path = write_synthetic_smplx(tmp_path)
    # Extra UV arrays in the npz are picked up (OBJ v-up -> glTF v-down).
    with np.load(path) as data:
        arrays = dict(data)
    nf = arrays["f"].shape[0]
    arrays["vt"] = np.array([[0.25, 0.75], [0.5, 0.1], [1.0, 0.0]])
    arrays["ft"] = np.tile(np.array([[0, 1, 2]]), (nf, 1))
    np.savez(path, **arrays)
    body = SMPLXBody(BodyConfig(model="smplx", smplx_dir=str(tmp_path)), num_betas=4)
    assert body.shape_names == ("beta0", "beta1", "beta2", "beta3")
    assert body(body.default_params(1)).vertices.shape[0] == 1
    torch.testing.assert_close(body.uvs, torch.tensor([[0.25, 0.25], [0.5, 0.9], [1.0, 1.0]]))
    assert body.face_uvs.shape == (nf, 3) and body.face_uvs.dtype == torch.int64
