import torch

from avatar3d.avatar import build_avatar
from avatar3d.core import BodyParams
from avatar3d.core.rotations import axis_angle_to_matrix


def test_avatar_feet_on_floor_and_lbs_reproduces_the_model(anny_body):
    shape = torch.tensor([[0.3, 0.6, 0.5, 0.7, 0.4, 0.5]])
    avatar = build_avatar(anny_body, shape)
    mesh = avatar.data.mesh
    assert abs(float(mesh.vertices[:, 1].min())) < 1e-6  # feet exactly on y = 0
    assert avatar.data.skeleton.num_joints == len(anny_body.bone_names)
    g = torch.Generator().manual_seed(0)
    params = BodyParams(shape=shape.expand(3, -1), pose=axis_angle_to_matrix(0.3 * torch.randn(3, len(anny_body.pose_joint_names), 3, generator=g)),
                        global_orient=axis_angle_to_matrix(0.3 * torch.randn(3, 3, generator=g)), transl=torch.randn(3, 3, generator=g))
    transforms = avatar.skinning_transforms(anny_body, params)
    skin = avatar.data.skin
    dense = torch.zeros(mesh.vertices.shape[0], len(anny_body.bone_names)).scatter_add_(1, skin.indices, skin.weights)
    homo = torch.cat((mesh.vertices, torch.ones_like(mesh.vertices[:, :1])), -1)
    posed = torch.einsum("vj,tjkl,vl->tvk", dense, transforms, homo)[..., :3]
    assert torch.allclose(posed, anny_body.forward(params).vertices, atol=1e-4)


def test_clothing_offsets_move_the_surface_outwards(anny_body):
    shape = torch.full((1, 6), 0.5)
    bare = build_avatar(anny_body, shape).data.mesh.vertices
    clothed = build_avatar(anny_body, shape, offsets=torch.full((bare.shape[0],), 0.02)).data.mesh.vertices
    centre = bare.mean(0)
    # torso vertices move away from the body's axis
    torso = (bare[:, 1] > 1.0) & (bare[:, 1] < 1.3) & (bare[:, 0].abs() < 0.12)
    r_bare = (bare[torso] - centre)[:, [0, 2]].norm(dim=-1)
    r_clothed = (clothed[torso] - centre)[:, [0, 2]].norm(dim=-1)
    assert float((r_clothed - r_bare).mean()) > 0.01
    assert abs(float(clothed[:, 1].min())) < 1e-6
