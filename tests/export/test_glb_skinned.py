"""Skinned/animated GLB: validator-clean, and the file's own data re-skins the body correctly.

The re-skinning below reads only the GLB (pygltflib for the JSON, numpy for the binary chunk):
POSITION, JOINTS_0, WEIGHTS_0, the inverse bind matrices, the node hierarchy and the animation
samplers, and evaluates glTF skinning as a viewer does: ``world(node) @ IBM`` per joint.
"""

import logging

import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from avatar3d.core import BodyParams, Mesh, Motion, Skeleton, SkinWeights
from avatar3d.core.rotations import axis_angle_to_matrix, axis_angle_to_quaternion, quaternion_slerp
from avatar3d.export.glb_skinned import SkeletalAnimation, skin_attributes, write_avatar_glb
from avatar3d.export.mesh_files import split_uv_seams
from tests.helpers.gltf_validator import errors_of, validate

log = logging.getLogger(__name__)

FRAMES = 10
FPS = 30.0
POSE_SIGMA_RAD = 0.3

_COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


# ---------------------------------------------------------------- reading a GLB back (no avatar3d code)
def load(path) -> tuple[pygltflib.GLTF2, bytes]:
    gltf = pygltflib.GLTF2().load(str(path))
    return gltf, gltf.binary_blob()


def accessor(gltf, blob, index) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = np.dtype(_COMPONENTS[acc.componentType])
    width = _WIDTH[acc.type]
    assert view.byteStride in (None, dtype.itemsize * width), "tightly packed data expected"
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start)
    return data.reshape(acc.count, width)


def quat_xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def slerp_xyzw(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    # Plain slerp between the stored values, no hemisphere correction: a file whose consecutive
    # keys had opposite signs would interpolate along the long arc here.
    theta = np.arccos(np.clip(float(np.dot(a, b)), -1.0, 1.0))
    if theta < 1e-8:
        return a
    return (np.sin((1 - u) * theta) * a + np.sin(u * theta) * b) / np.sin(theta)


def sample(gltf, blob, time_s: float) -> dict[tuple[int, str], np.ndarray]:
    """Every channel of animation 0 evaluated at ``time_s`` (LINEAR: lerp / slerp)."""
    values = {}
    anim = gltf.animations[0]
    for ch in anim.channels:
        s = anim.samplers[ch.sampler]
        assert s.interpolation == "LINEAR"
        times = accessor(gltf, blob, s.input)[:, 0].astype(np.float64)
        out = accessor(gltf, blob, s.output).astype(np.float64)
        i = int(np.clip(np.searchsorted(times, time_s, side="right") - 1, 0, len(times) - 1))
        if i == len(times) - 1 or time_s <= times[0]:
            value = out[i]
        else:
            u = (time_s - times[i]) / (times[i + 1] - times[i])
            value = slerp_xyzw(out[i], out[i + 1], u) if ch.target.path == "rotation" else (1 - u) * out[i] + u * out[i + 1]
        values[(ch.target.node, ch.target.path)] = value
    return values


def node_world_matrices(gltf, overrides=None) -> dict[int, np.ndarray]:
    overrides = overrides or {}
    local = {}
    for i, node in enumerate(gltf.nodes):
        if node.matrix is not None:
            local[i] = np.array(node.matrix, dtype=np.float64).reshape(4, 4).T
            continue
        m = np.eye(4)
        t = overrides.get((i, "translation"), node.translation or [0, 0, 0])
        r = overrides.get((i, "rotation"), node.rotation or [0, 0, 0, 1])
        s = overrides.get((i, "scale"), node.scale or [1, 1, 1])
        m[:3, :3] = quat_xyzw_to_matrix(np.asarray(r, dtype=np.float64)) * np.asarray(s, dtype=np.float64)
        m[:3, 3] = t
        local[i] = m
    world = {}

    def visit(i, parent):
        world[i] = parent @ local[i]
        for c in gltf.nodes[i].children or []:
            visit(c, world[i])

    for root in gltf.scenes[gltf.scene].nodes:
        visit(root, np.eye(4))
    return world


def glb_skinned_positions(gltf, blob, time_s: float | None) -> np.ndarray:
    """``[V', 3]`` posed vertices of the (single) skinned mesh node, computed from the file."""
    mesh_node = next(i for i, n in enumerate(gltf.nodes) if n.skin is not None)
    skin = gltf.skins[gltf.nodes[mesh_node].skin]
    prim = gltf.meshes[gltf.nodes[mesh_node].mesh].primitives[0]
    pos = accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64)
    joints = accessor(gltf, blob, prim.attributes.JOINTS_0).astype(np.int64)
    weights = accessor(gltf, blob, prim.attributes.WEIGHTS_0).astype(np.float64)
    ibm = accessor(gltf, blob, skin.inverseBindMatrices).astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)
    world = node_world_matrices(gltf, sample(gltf, blob, time_s) if time_s is not None else None)
    mesh_inv = np.linalg.inv(world[mesh_node])
    joint_mats = np.stack([mesh_inv @ world[n] @ ibm[k] for k, n in enumerate(skin.joints)])  # [J, 4, 4]
    per_vertex = np.einsum("vk,vkij->vij", weights, joint_mats[joints])
    return np.einsum("vij,vj->vi", per_vertex[:, :3, :3], pos) + per_vertex[:, :3, 3]


def lbs(transforms: torch.Tensor, rest: torch.Tensor, skin: SkinWeights) -> torch.Tensor:
    t = transforms[skin.indices].to(torch.float64)
    moved = torch.einsum("vkij,vj->vki", t[..., :3, :3], rest.to(torch.float64)) + t[..., :3, 3]
    return (skin.weights.to(torch.float64)[..., None] * moved).sum(1)


# ---------------------------------------------------------------- fixtures
def random_params(body, frames: int, seed: int) -> BodyParams:
    g = torch.Generator().manual_seed(seed)
    base = body.default_params(1)
    j = len(body.pose_joint_names)
    return BodyParams(
        shape=base.shape.expand(frames, -1).clone(),
        pose=axis_angle_to_matrix(torch.randn(frames, j, 3, generator=g) * POSE_SIGMA_RAD),
        global_orient=axis_angle_to_matrix(torch.randn(frames, 3, generator=g) * POSE_SIGMA_RAD),
        transl=torch.randn(frames, 3, generator=g) * 0.2,
    )


def bind_mesh(body, out) -> Mesh:
    tex = torch.zeros(16, 16, 3, dtype=torch.uint8)
    tex[..., 1] = 180
    return Mesh(vertices=out.rest_vertices[0].detach(), faces=body.faces, uvs=body.uvs, face_uvs=body.face_uvs, texture=tex)


@pytest.fixture(scope="module")
def animated(anny_body, tmp_path_factory):
    params = random_params(anny_body, FRAMES, seed=0)
    with torch.no_grad():
        out = anny_body.forward(params)
    skeleton = anny_body.rest_skeleton(params.shape[:1])
    mesh = bind_mesh(anny_body, out)
    anim = SkeletalAnimation.from_transforms(skeleton, out.joint_transforms, fps=FPS)
    path = write_avatar_glb(tmp_path_factory.mktemp("glb") / "avatar.glb", mesh, skeleton, anny_body.skin, anim)
    return path, out, mesh, skeleton, anim


# ---------------------------------------------------------------- tests
def test_animated_anny_glb_validates(animated):
    path, *_ = animated
    report = validate(path)
    log.info("validator: %d errors, %d warnings", report["issues"]["numErrors"], report["issues"]["numWarnings"])
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"][:5]
    assert report["info"]["animationCount"] == 1 and report["info"]["totalVertexCount"] > 13000


def file_skin(gltf, blob) -> SkinWeights:
    prim = gltf.meshes[0].primitives[0]
    return SkinWeights(indices=torch.from_numpy(accessor(gltf, blob, prim.attributes.JOINTS_0).astype(np.int64)),
                       weights=torch.from_numpy(accessor(gltf, blob, prim.attributes.WEIGHTS_0).astype(np.float64)))


def test_glb_reskins_to_the_posed_body(animated, anny_body):
    path, out, mesh, skeleton, anim = animated
    gltf, blob = load(path)
    _, _, _, source = split_uv_seams(mesh)
    prim = gltf.meshes[0].primitives[0]
    rest = mesh.vertices[source]
    # The file's bind positions are our bind mesh (seam-split copies of it).
    assert np.allclose(accessor(gltf, blob, prim.attributes.POSITION), rest.numpy(), atol=1e-6)
    # The bind pose (no animation applied) reproduces the bind mesh: IBMs match the rest nodes.
    assert np.abs(glb_skinned_positions(gltf, blob, None) - rest.numpy()).max() < 1e-5
    skin4 = file_skin(gltf, blob)
    worst_vs_4, errors_vs_9 = 0.0, []
    for k in range(FRAMES):
        posed = glb_skinned_positions(gltf, blob, k / FPS)
        # The body's own skinning transforms with the file's 4 influences: isolates the node
        # hierarchy, IBMs and animation channels from the influence truncation.
        ours4 = lbs(out.joint_transforms[k], rest, skin4).numpy()
        worst_vs_4 = max(worst_vs_4, float(np.abs(posed - ours4).max()))
        errors_vs_9.append(np.linalg.norm(posed - out.vertices[k].numpy()[source], axis=1))
    e9 = np.concatenate(errors_vs_9)
    log.info("GLB re-skin vs 4-influence LBS: max %.2e m; vs body (9 influences): mean %.2e, max %.2e m",
             worst_vs_4, e9.mean(), e9.max())
    assert worst_vs_4 < 1e-4  # float32 storage only
    assert e9.mean() < 2e-3 and e9.max() < 3e-2  # plus the 9 -> 4 influence truncation


def test_file_weights_are_the_strongest_four_renormalised(animated, anny_body):
    path, out, mesh, *_ = animated
    gltf, blob = load(path)
    source = split_uv_seams(mesh)[3]
    j = len(gltf.skins[0].joints)
    dense = np.zeros((anny_body.num_vertices, j))
    np.add.at(dense, (np.arange(len(dense))[:, None], anny_body.skin.indices.numpy()), anny_body.skin.weights.numpy())
    dense = dense[source]
    skin4 = file_skin(gltf, blob)
    kept = np.zeros_like(dense, dtype=bool)
    np.put_along_axis(kept, skin4.indices.numpy(), skin4.weights.numpy() > 0, axis=1)
    kept_sum = np.where(kept, dense, 0).sum(1)
    # each stored weight = its original weight / the kept original weights' sum
    stored = np.take_along_axis(dense, skin4.indices.numpy(), axis=1) / kept_sum[:, None]
    assert np.allclose(np.where(skin4.weights.numpy() > 0, stored, 0), skin4.weights.numpy(), atol=1e-6)
    # nothing dropped outweighs anything kept
    weakest_kept = np.where(kept, dense, np.inf).min(1)
    strongest_dropped = np.where(kept, -np.inf, dense).max(1)
    assert (strongest_dropped <= weakest_kept + 1e-7).all()
    assert (kept.sum(1) == np.minimum(4, (dense > 0).sum(1))).all()


def test_glb_interpolates_between_keyframes_on_the_short_arc(animated):
    path, out, mesh, skeleton, anim = animated
    gltf, blob = load(path)
    rest = mesh.vertices[split_uv_seams(mesh)[3]]
    mid = glb_skinned_positions(gltf, blob, 3.5 / FPS)
    # Reference: slerp of each local rotation (short arc), lerp of the root, through core FK.
    halfway = SkeletalAnimation(
        fps=FPS,
        local_rotations=quaternion_slerp(anim.local_rotations[3], anim.local_rotations[4], 0.5)[None],
        root_translation=(0.5 * (anim.root_translation[3] + anim.root_translation[4]))[None],
    )
    expected = lbs(halfway.skinning_transforms(skeleton)[0], rest, file_skin(gltf, blob)).numpy()
    assert np.abs(mid - expected).max() < 1e-4
    # and it is a genuinely different pose from both neighbours
    assert np.abs(mid - glb_skinned_positions(gltf, blob, 3 / FPS)).max() > 0.05


def test_quaternions_are_xyzw_and_sign_continuous(tmp_path):
    skeleton = Skeleton(names=("root", "child"), parents=(-1, 0), rest_positions=torch.tensor([[0.0, 1, 0], [0, 1.5, 0]]))
    angles = torch.linspace(0, 3.0, 7)
    q = axis_angle_to_quaternion(torch.stack((torch.zeros(7), angles, torch.zeros(7)), -1))  # about +Y
    q[1::2] = -q[1::2]  # alternate signs: same rotations, opposite hemispheres
    rot = torch.stack((torch.tensor([1.0, 0, 0, 0]).expand(7, 4), q), 1)
    anim = SkeletalAnimation(fps=10.0, local_rotations=rot, root_translation=torch.zeros(7, 3))
    mesh = Mesh(vertices=torch.tensor([[0.0, 1, 0], [0.1, 1.5, 0], [0, 1.5, 0.1]]), faces=torch.tensor([[0, 1, 2]]))
    skin = SkinWeights(indices=torch.tensor([[0], [1], [1]]), weights=torch.ones(3, 1))
    path = write_avatar_glb(tmp_path / "two.glb", mesh, skeleton, skin, anim)
    assert validate(path)["issues"]["numErrors"] == 0
    gltf, blob = load(path)
    ch = next(c for c in gltf.animations[0].channels if c.target.node == 1 and c.target.path == "rotation")
    out = accessor(gltf, blob, gltf.animations[0].samplers[ch.sampler].output).astype(np.float64)
    assert (np.sum(out[1:] * out[:-1], axis=1) > 0).all()
    # x, y, z, w: a rotation about +Y has only y and w non-zero.
    assert np.allclose(np.abs(out[:, [0, 2]]), 0, atol=1e-7)
    assert np.allclose(np.abs(out[:, 1]), np.sin(angles.numpy() / 2), atol=1e-6)
    assert np.allclose(np.abs(out[:, 3]), np.cos(angles.numpy() / 2), atol=1e-6)
    assert gltf.nodes[0].translation == [0.0, 1.0, 0.0] and gltf.nodes[1].translation == [0.0, 0.5, 0.0]


def test_skin_attributes_read_back(animated):
    path, *_ = animated
    gltf, blob = load(path)
    prim = gltf.meshes[0].primitives[0]
    assert gltf.accessors[prim.attributes.JOINTS_0].componentType == pygltflib.UNSIGNED_BYTE  # 104 joints
    joints = accessor(gltf, blob, prim.attributes.JOINTS_0).astype(np.int64)
    weights = accessor(gltf, blob, prim.attributes.WEIGHTS_0)
    assert weights.dtype == np.float32 and weights.shape[1] == 4 and getattr(prim.attributes, "WEIGHTS_1", None) is None
    assert np.abs(weights.sum(1, dtype=np.float64) - 1).max() < 1e-6
    assert (weights >= 0).all()
    assert (joints[weights == 0] == 0).all()
    assert (weights == 0).any()  # many Anny vertices have < 4 influences: the zero rule is exercised
    for row_j, row_w in zip(joints[:2000], weights[:2000], strict=True):
        used = row_j[row_w > 0]
        assert len(set(used.tolist())) == len(used)


def test_skin_attributes_merge_duplicates_and_use_uint16_past_256_joints():
    skin = SkinWeights(indices=torch.tensor([[3, 3, 5, 7, 9, 0], [1, 0, 0, 0, 0, 0]]),
                       weights=torch.tensor([[0.3, 0.2, 0.2, 0.1, 0.1, 0.1], [1.0, 0, 0, 0, 0, 0]]))
    joints, weights = skin_attributes(skin, num_joints=300)
    assert joints.dtype == np.uint16 and weights.shape == (2, 4)
    assert joints[0, 0] == 3 and np.isclose(weights[0, 0], 0.5 / 0.9)  # merged 0.3 + 0.2, renormalised
    assert joints[1].tolist() == [1, 0, 0, 0] and weights[1].tolist() == [1.0, 0, 0, 0]
    assert skin_attributes(skin, num_joints=10)[0].dtype == np.uint8
    with pytest.raises(ValueError, match=r"skin indices must lie in \[0, 5\]"):
        skin_attributes(skin, num_joints=6)


def test_static_skinned_glb_validates_and_loads(anny_body, tmp_path):
    params = anny_body.default_params(1)
    with torch.no_grad():
        out = anny_body.forward(params)
    mesh = bind_mesh(anny_body, out)
    path = write_avatar_glb(tmp_path / "static.glb", mesh, anny_body.rest_skeleton(params.shape), anny_body.skin)
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    gltf, _ = load(path)
    assert not gltf.animations and len(gltf.skins) == 1 and gltf.skins[0].skeleton == 0
    scene = trimesh.load(path)
    geom = next(iter(scene.geometry.values()))
    assert geom.vertices.shape[0] == len(split_uv_seams(mesh)[0])
    assert abs(float(scene.bounds[0][1]) - float(mesh.vertices[:, 1].min())) < 1e-4  # bind pose, world frame


def test_mixamo_rig_keeps_names(tmp_path):
    from avatar3d.body import BodyConfig, create_body_model

    body = create_body_model(BodyConfig(model="anny", rig="mixamo"))
    params = random_params(body, 2, seed=1)
    with torch.no_grad():
        out = body.forward(params)
    skeleton = body.rest_skeleton(params.shape[:1])
    anim = SkeletalAnimation.from_transforms(skeleton, out.joint_transforms, fps=24)
    path = write_avatar_glb(tmp_path / "mixamo.glb", bind_mesh(body, out), skeleton, body.skin, anim)
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    gltf, blob = load(path)
    names = [n.name for n in gltf.nodes[: skeleton.num_joints]]
    assert names == list(body.bone_names)
    assert {"mixamorig:Hips", "mixamorig:LeftArm", "mixamorig:RightUpLeg"} <= set(names)
    assert gltf.nodes[gltf.skins[0].skeleton].name == "mixamorig:Hips"
    posed = glb_skinned_positions(gltf, blob, 1 / 24)
    _, _, _, source = split_uv_seams(bind_mesh(body, out))
    err = np.linalg.norm(posed - out.vertices[1].numpy()[source], axis=1)
    assert err.mean() < 2e-3 and err.max() < 3e-2


def test_from_motion_and_mismatches(tmp_path):
    skeleton = Skeleton(names=("hips", "spine"), parents=(-1, 0), rest_positions=torch.tensor([[0.0, 1, 0], [0, 1.2, 0]]))
    rot = torch.tensor([1.0, 0, 0, 0]).expand(3, 2, 4).clone()
    motion = Motion(fps=30.0, skeleton=skeleton, local_rotations=rot, root_translation=torch.zeros(3, 3))
    anim = SkeletalAnimation.from_motion(motion)
    assert anim.joint_names == ("hips", "spine") and anim.num_frames == 3
    mesh = Mesh(vertices=torch.tensor([[0.0, 1, 0], [0.1, 1.2, 0], [0, 1.2, 0.1]]), faces=torch.tensor([[0, 1, 2]]))
    skin = SkinWeights(indices=torch.tensor([[0], [1], [1]]), weights=torch.ones(3, 1))
    other = Skeleton(names=("Hips", "Spine"), parents=(-1, 0), rest_positions=skeleton.rest_positions)
    with pytest.raises(ValueError, match="joint names do not match"):
        write_avatar_glb(tmp_path / "x.glb", mesh, other, skin, anim)
    with pytest.raises(ValueError, match=r"skin.indices must have shape \[3, \*\], got \[2, 1\]"):
        write_avatar_glb(tmp_path / "x.glb", mesh, skeleton, SkinWeights(indices=skin.indices[:2], weights=skin.weights[:2]))
    with pytest.raises(ValueError, match="transforms must have shape"):
        SkeletalAnimation.from_transforms(skeleton, torch.eye(4).expand(3, 5, 4, 4), fps=30)
    scaled = torch.eye(4).expand(3, 2, 4, 4).clone()
    scaled[:, :, :3, :3] *= 1.1
    with pytest.raises(ValueError, match="rigid"):
        SkeletalAnimation.from_transforms(skeleton, scaled, fps=30)
    with pytest.raises(ValueError, match="fps"):
        SkeletalAnimation(fps=0.0, local_rotations=rot, root_translation=torch.zeros(3, 3))
    assert not list(tmp_path.iterdir())


def test_from_transforms_roundtrip(anny_body):
    params = random_params(anny_body, 3, seed=2)
    with torch.no_grad():
        out = anny_body.forward(params)
    skeleton = anny_body.rest_skeleton(params.shape[:1])
    anim = SkeletalAnimation.from_transforms(skeleton, out.joint_transforms, fps=30)
    back = anim.skinning_transforms(skeleton)
    assert torch.allclose(back.float(), out.joint_transforms, atol=1e-4)
    assert torch.allclose(anim.root_translation.float(), out.joints[:, 0], atol=1e-5)
