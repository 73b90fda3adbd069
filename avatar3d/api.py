"""The whole flow in one place: the only module that wires stages together (DESIGN.md section 1).

The CLI and the demo call these functions; each stage takes and returns ``avatar3d.core`` types.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from avatar3d.body import create_body_model
from avatar3d.body.anny_backend import ANNY_PHENOTYPES
from avatar3d.body.base import identity_params
from avatar3d.config import BodyExportConfig
from avatar3d.core import Mesh
from avatar3d.export.mesh_files import MESH_FORMATS, write_mesh
from avatar3d.utils.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BodyExportResult:
    """What `export_body` wrote: the file, the mesh size and the body's standing height."""

    path: Path
    num_vertices: int
    num_faces: int
    height_m: float
    shape: tuple[float, ...]


def export_body(config: BodyExportConfig, output: str | Path) -> BodyExportResult:
    """Write the rest-pose body described by ``config`` to ``output`` (.glb, .obj or .ply)."""
    output = Path(output)
    if output.suffix.lower().lstrip(".") not in MESH_FORMATS:
        raise UserError(
            f"unsupported output format {output.suffix or '(none)'!r} for {output}",
            f"name the output file with one of: {', '.join('.' + f for f in MESH_FORMATS)}",
        )
    if config.body.model != "anny" and (config.height_m is not None):
        raise UserError("--height is only supported for the Anny body", "drop --height or use --model anny")
    model = create_body_model(config.body)
    values = {"gender": config.gender, "age": config.age, "muscle": config.muscle, "weight": config.weight,
              "proportions": config.proportions, "height": 0.5}
    if config.body.model == "anny":
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise UserError(f"{name} must be in [0, 1], got {value}", "phenotypes are fractions: 0 = least, 1 = most")
        shape = torch.tensor([[values[n] for n in ANNY_PHENOTYPES]], dtype=model.dtype)
        if config.height_m is not None:
            try:
                shape = model.shape_for_height(config.height_m, shape)
            except ValueError as error:
                raise UserError(str(error), "choose a height in that range or change age/gender") from None
    else:
        shape = model.default_params(1).shape
    params = identity_params(1, len(model.pose_joint_names), shape)
    with torch.no_grad():
        body = model.forward(params)
    mesh = Mesh(vertices=body.vertices[0], faces=model.faces, uvs=model.uvs, face_uvs=model.face_uvs)
    write_mesh(mesh, output)
    height = float(body.vertices[0, :, 1].max())
    log.info("wrote %s (%d vertices, height %.3f m)", output, mesh.vertices.shape[0], height)
    return BodyExportResult(output, mesh.vertices.shape[0], mesh.faces.shape[0], height, tuple(float(v) for v in shape[0]))
