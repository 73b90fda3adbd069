"""Avatar: a fitted, textured, rigged body that can be posed, animated and exported.

The avatar's mesh is the body model's bind mesh for the fitted shape, plus clothing offsets
along its normals, lifted so its lowest vertex is on y = 0 (world frame of DESIGN.md).  Its
skeleton is the rig's bind skeleton, lifted the same way; posing goes through the body model,
whose skinning transforms are corrected for the lift, so any pose of the model is reproduced
exactly by linear blend skinning of the avatar mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from avatar3d.body.base import BodyModel, identity_params
from avatar3d.core import AvatarData, BodyParams, Mesh, Skeleton
from avatar3d.core.geometry import vertex_normals


@dataclass(frozen=True)
class Avatar:
    """A rigged avatar bound to the body model that drives it.

    Attributes:
        data: mesh (bind pose, world, feet on y = 0, textured), skeleton, skin weights.
        shape: ``[1, S]`` the body's shape parameters.
        lift: ``[3]`` translation applied to the model's bind mesh (feet on the floor).
    """

    data: AvatarData
    shape: torch.Tensor
    lift: torch.Tensor

    def skinning_transforms(self, model: BodyModel, params: BodyParams) -> torch.Tensor:
        """``[T, J, 4, 4]`` transforms taking this avatar's bind mesh to the model posed by
        ``params`` (batch T, same shape as the avatar; clothing offsets ride along)."""
        out = model.forward(params)
        unlift = torch.eye(4, dtype=out.joint_transforms.dtype)
        unlift[:3, 3] = -self.lift.to(unlift)
        return out.joint_transforms @ unlift

    def params(self, model: BodyModel, batch: int = 1) -> BodyParams:
        """Rest-pose parameters of this avatar's shape (a starting point for animation)."""
        return identity_params(batch, len(model.pose_joint_names), self.shape.expand(batch, -1).to(model.dtype))


def build_avatar(model: BodyModel, shape: torch.Tensor, texture: torch.Tensor | None = None,
                 offsets: torch.Tensor | None = None) -> Avatar:
    """Build the avatar of ``shape`` ``[1, S]`` on ``model``'s rig.

    Args:
        texture: ``[Ht, Wt, 3]`` uint8 RGB in the model's UV layout (None: untextured).
        offsets: ``[V]`` clothing offsets in metres along the bind mesh's normals (None: none).
    """
    params = identity_params(1, len(model.pose_joint_names), shape.to(model.dtype))
    with torch.no_grad():
        out = model.forward(params)
        bind = out.rest_vertices[0].clone()
        if offsets is not None:
            bind = bind + offsets.to(bind)[:, None] * vertex_normals(bind[None], model.faces)[0]
        lift = torch.zeros(3, dtype=bind.dtype)
        lift[1] = -bind[:, 1].min()
        bind = bind + lift
        skeleton = model.rest_skeleton(shape)
        skeleton = Skeleton(names=skeleton.names, parents=skeleton.parents, rest_positions=skeleton.rest_positions + lift)
    mesh = Mesh(vertices=bind, faces=model.faces, uvs=model.uvs, face_uvs=model.face_uvs, texture=texture)
    data = AvatarData(mesh=mesh, skeleton=skeleton, skin=model.skin, body_model=model.name, params=params)
    return Avatar(data=data, shape=shape.detach().clone(), lift=lift)


def with_texture(avatar: Avatar, texture: torch.Tensor) -> Avatar:
    """The same avatar with another ``[Ht, Wt, 3]`` uint8 texture."""
    return replace(avatar, data=replace(avatar.data, mesh=replace(avatar.data.mesh, texture=texture)))
