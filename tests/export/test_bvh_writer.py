"""BVH writer: parsed back by a small, spec-following reader, its FK matches core FK."""

import math

import numpy as np
import pytest
import torch

from avatar3d.core import Motion, Skeleton
from avatar3d.core.joints import SMPL22, SMPL22_PARENTS
from avatar3d.core.kinematics import forward_kinematics
from avatar3d.core.rotations import axis_angle_to_quaternion, quaternion_to_matrix
from avatar3d.export.bvh_writer import (
    continuous_euler_zxy,
    euler_zxy_to_matrix,
    matrix_to_euler_zxy,
    write_bvh,
    write_motion_bvh,
)


# ---------------------------------------------------------------- a tiny BVH reader (independent of the writer)
def parse_bvh(text: str) -> dict:
    tokens = text.split()
    pos = 0
    joints = []  # dicts: name, parent, offset, channels

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def joint(parent):
        name = take()
        assert take() == "{"
        me = {"name": name, "parent": parent, "offset": None, "channels": [], "end_site": None}
        joints.append(me)
        index = len(joints) - 1
        while True:
            tok = take()
            if tok == "OFFSET":
                me["offset"] = np.array([float(take()) for _ in range(3)])
            elif tok == "CHANNELS":
                me["channels"] = [take() for _ in range(int(take()))]
            elif tok == "JOINT":
                joint(index)
            elif tok == "End":
                assert take() == "Site" and take() == "{" and take() == "OFFSET"
                me["end_site"] = np.array([float(take()) for _ in range(3)])
                assert take() == "}"
            elif tok == "}":
                return
            else:
                raise AssertionError(f"unexpected token {tok!r}")

    assert take() == "HIERARCHY" and take() == "ROOT"
    joint(-1)
    assert take() == "MOTION" and take() == "Frames:"
    frames = int(take())
    assert take() == "Frame" and take() == "Time:"
    frame_time = float(take())
    values = np.array([float(t) for t in tokens[pos:]]).reshape(frames, -1)
    assert values.shape[1] == sum(len(j["channels"]) for j in joints)
    return {"joints": joints, "frame_time": frame_time, "values": values}


def axis_matrix(axis: str, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return {
        "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def bvh_positions(bvh: dict) -> np.ndarray:
    """``[T, J, 3]`` joint positions: rotation channels compose in the listed order
    (``R = R_first @ R_second @ R_third``), each joint at parent + parent rotation @ offset."""
    joints, values = bvh["joints"], bvh["values"]
    out = np.zeros((len(values), len(joints), 3))
    for f, row in enumerate(values):
        col = 0
        glob = []
        for j, jt in enumerate(joints):
            rot, trans = np.eye(3), np.zeros(3)
            for ch in jt["channels"]:
                v = row[col]
                col += 1
                if ch.endswith("position"):
                    trans["XYZ".index(ch[0])] = v
                else:
                    rot = rot @ axis_matrix(ch[0], v)
            if jt["parent"] < 0:
                out[f, j] = jt["offset"] + trans
                glob.append(rot)
            else:
                p = jt["parent"]
                out[f, j] = out[f, p] + glob[p] @ jt["offset"]
                glob.append(glob[p] @ rot)
    return out


# ---------------------------------------------------------------- helpers
def smpl_skeleton() -> Skeleton:
    g = torch.Generator().manual_seed(3)
    rest = torch.zeros(22, 3)
    for i, p in enumerate(SMPL22_PARENTS):
        if p >= 0:
            rest[i] = rest[p] + torch.randn(3, generator=g) * 0.15
    rest[0] = torch.tensor([0.0, 0.95, 0.0])
    return Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=rest)


def random_quaternions(shape, seed) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape, 4, generator=g, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def core_positions(skeleton, q, root) -> np.ndarray:
    rest = skeleton.rest_positions.double()
    pos, _ = forward_kinematics(skeleton.parents, rest, quaternion_to_matrix(q.double()), root.double())
    return pos.numpy()


def by_name(bvh, skeleton) -> list[int]:
    names = [j["name"] for j in bvh["joints"]]
    return [names.index(n) for n in skeleton.names]


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("units", ["m", "cm"])
def test_bvh_fk_matches_core_fk_for_arbitrary_rotations(tmp_path, units):
    skeleton = smpl_skeleton()
    t = 40
    q = random_quaternions((t, 22), seed=0)  # any rotation, not just small ones
    # gimbal-lock frames: +-90 degrees about X (the middle ZXY axis) for every joint
    q[5] = axis_angle_to_quaternion(torch.tensor([math.pi / 2, 0, 0], dtype=torch.float64)).expand(22, 4)
    q[6] = axis_angle_to_quaternion(torch.tensor([-math.pi / 2, 0.3, 0], dtype=torch.float64)).expand(22, 4)
    root = torch.randn(t, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    path = write_bvh(tmp_path / "m.bvh", skeleton, q, root, fps=30.0, units=units)
    bvh = parse_bvh(path.read_text())
    scale = {"m": 1.0, "cm": 100.0}[units]
    assert bvh["frame_time"] == pytest.approx(1 / 30, abs=1e-8)
    assert bvh["joints"][0]["channels"] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
    assert all(j["channels"] == ["Zrotation", "Xrotation", "Yrotation"] for j in bvh["joints"][1:])
    got = bvh_positions(bvh)[:, by_name(bvh, skeleton)] / scale
    want = core_positions(skeleton, q, root)
    assert np.abs(got - want).max() < 1e-4
    # every leaf has an End Site, and only leaves
    leaves = {n for i, n in enumerate(skeleton.names) if i not in skeleton.parents}
    assert {j["name"] for j in bvh["joints"] if j["end_site"] is not None} == leaves


def test_bvh_of_anny_rig_with_mixamo_style_names(tmp_path, anny_body):
    skeleton = anny_body.rest_skeleton(anny_body.default_params(1).shape)
    names = tuple(f"mixamorig:{n}" for n in skeleton.names[:-1]) + ("left eye",)
    skeleton = Skeleton(names=names, parents=skeleton.parents, rest_positions=skeleton.rest_positions)
    g = torch.Generator().manual_seed(2)
    q = axis_angle_to_quaternion(torch.randn(5, skeleton.num_joints, 3, generator=g) * 0.5)
    root = skeleton.rest_positions[0].expand(5, 3) + torch.randn(5, 3, generator=g) * 0.1
    motion = Motion(fps=24.0, skeleton=skeleton, local_rotations=q, root_translation=root)
    bvh = parse_bvh(write_motion_bvh(tmp_path / "anny.bvh", motion).read_text())
    written = [j["name"] for j in bvh["joints"]]
    assert "mixamorig:root" in written and "left_eye" in written
    skeleton_clean = Skeleton(names=names[:-1] + ("left_eye",), parents=skeleton.parents, rest_positions=skeleton.rest_positions)
    got = bvh_positions(bvh)[:, by_name(bvh, skeleton_clean)]
    assert np.abs(got - core_positions(skeleton, q, root)).max() < 1e-4
    assert bvh["frame_time"] == pytest.approx(1 / 24, abs=1e-8)


def test_euler_angles_are_continuous_for_a_spinning_root(tmp_path):
    skeleton = smpl_skeleton()
    t = 60
    yaw = torch.linspace(0, 4 * math.pi, t, dtype=torch.float64)  # two full turns
    q = torch.zeros(t, 22, 4, dtype=torch.float64)
    q[..., 0] = 1
    q[:, 0] = axis_angle_to_quaternion(torch.stack((0.2 * torch.ones(t), yaw, torch.zeros(t)), -1))
    bvh = parse_bvh(write_bvh(tmp_path / "spin.bvh", skeleton, q, torch.zeros(t, 3), fps=30).read_text())
    root_euler = bvh["values"][:, 3:6]
    step = np.degrees(float(yaw[1] - yaw[0]))
    assert np.abs(np.diff(root_euler, axis=0)).max() < 2 * step
    assert np.abs(bvh_positions(bvh)[:, by_name(bvh, skeleton)] - core_positions(skeleton, q, torch.zeros(t, 3))).max() < 1e-4


def test_euler_helpers_roundtrip():
    m = quaternion_to_matrix(random_quaternions((200,), seed=5)).numpy()
    e = matrix_to_euler_zxy(m)
    assert np.abs(euler_zxy_to_matrix(e) - m).max() < 1e-9
    cont = continuous_euler_zxy(e[:, None])[:, 0]
    assert np.abs(euler_zxy_to_matrix(cont) - m).max() < 1e-9
    # matches the product of single-axis rotations in channel order
    z, x, y = np.degrees(e[0])
    assert np.allclose(axis_matrix("Z", z) @ axis_matrix("X", x) @ axis_matrix("Y", y), m[0], atol=1e-9)


def test_bad_input_names_the_argument(tmp_path):
    skeleton = smpl_skeleton()
    q = random_quaternions((4, 22), seed=0)
    with pytest.raises(ValueError, match=r"local_rotations must have shape \[T, 22, 4\], got \[4, 21, 4\]"):
        write_bvh(tmp_path / "x.bvh", skeleton, q[:, :21], torch.zeros(4, 3), fps=30)
    with pytest.raises(ValueError, match=r"root_translation must have shape \[4, 3\], got \[3, 3\]"):
        write_bvh(tmp_path / "x.bvh", skeleton, q, torch.zeros(3, 3), fps=30)
    with pytest.raises(ValueError, match="fps"):
        write_bvh(tmp_path / "x.bvh", skeleton, q, torch.zeros(4, 3), fps=0)
    with pytest.raises(ValueError, match="units"):
        write_bvh(tmp_path / "x.bvh", skeleton, q, torch.zeros(4, 3), fps=30, units="inch")
    bad = q.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="local_rotations contains"):
        write_bvh(tmp_path / "x.bvh", skeleton, bad, torch.zeros(4, 3), fps=30)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("units, metres_per_unit", [("m", 1.0), ("cm", 0.01)])
def test_project_bvh_reader_agrees_when_present(tmp_path, units, metres_per_unit):
    """Cross-check with the motion layer's reader if it exists (not a dependency of the writer)."""
    reader = pytest.importorskip("avatar3d.motion.bvh")
    if not hasattr(reader, "read_bvh"):
        pytest.skip("avatar3d.motion.bvh has no read_bvh")
    skeleton = smpl_skeleton()
    q = random_quaternions((12, 22), seed=7)
    root = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    path = write_bvh(tmp_path / "x.bvh", skeleton, q, root, fps=25.0, units=units)
    clip = reader.read_bvh(path, metres_per_unit=metres_per_unit, drop_tpose=False)
    assert clip.fps == pytest.approx(25.0, rel=1e-6) and clip.num_frames == 12
    positions, _ = clip.forward_kinematics()
    order = [clip.names.index(n) for n in skeleton.names]
    assert np.abs(positions[:, order] - core_positions(skeleton, q, root)).max() < 1e-4
