import numpy as np
import pytest
import torch
import trimesh

from avatar3d.core import Mesh
from avatar3d.export.mesh_files import read_glb_summary, split_uv_seams, write_mesh
from avatar3d.utils.errors import UserError
from tests.helpers.gltf_validator import errors_of, validate


def textured_quad() -> Mesh:
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    # vertex 0 and 2 get different UVs in the two faces: a seam
    uvs = torch.tensor([[0.0, 1], [1, 1], [1, 0], [0.1, 1], [0.9, 0.0], [0, 0]])
    fuv = torch.tensor([[0, 1, 2], [3, 4, 5]])
    tex = torch.zeros(8, 8, 3, dtype=torch.uint8)
    tex[..., 0] = 255
    return Mesh(vertices=v, faces=f, uvs=uvs, face_uvs=fuv, texture=tex)


def test_split_uv_seams_duplicates_only_seam_vertices():
    positions, faces, uvs, source = split_uv_seams(textured_quad())
    assert len(positions) == 6 and uvs.shape == (6, 2)
    # every output corner has the position and the UV the input face asked for
    mesh = textured_quad()
    for fi in range(2):
        for c in range(3):
            out_v = faces[fi, c]
            assert np.allclose(positions[out_v], mesh.vertices[mesh.faces[fi, c]].numpy())
            assert np.allclose(uvs[out_v], mesh.uvs[mesh.face_uvs[fi, c]].numpy())
            assert source[out_v] == mesh.faces[fi, c]


def test_glb_valid_and_textured(tmp_path):
    path = write_mesh(textured_quad(), tmp_path / "quad.glb")
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    assert read_glb_summary(path)["meshes"] == 1
    scene = trimesh.load(path)
    geom = next(iter(scene.geometry.values()))
    assert geom.vertices.shape == (6, 3)
    assert geom.visual.material.baseColorTexture is not None


def test_obj_with_mtl_and_png_roundtrip(tmp_path):
    path = write_mesh(textured_quad(), tmp_path / "quad.obj")
    assert (tmp_path / "quad.mtl").exists() and (tmp_path / "quad.png").exists()
    text = path.read_text()
    assert "mtllib quad.mtl" in text and text.count("\nf ") == 2
    # OBJ stores v up: the glTF uv (0, 1) is written as vt 0 0
    assert "vt 0.000000 0.000000" in text
    loaded = trimesh.load(path, process=False)
    assert loaded.faces.shape[0] == 2
    # trimesh splits at UV seams; every loaded position is one of ours
    ours = textured_quad().vertices.numpy()
    assert all(np.isclose(ours, p).all(axis=1).any() for p in loaded.vertices)


def test_ply_roundtrip(tmp_path):
    mesh = textured_quad()
    mesh = Mesh(vertices=mesh.vertices, faces=mesh.faces, vertex_colors=torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]))
    path = write_mesh(mesh, tmp_path / "quad.ply")
    loaded = trimesh.load(path, process=False)
    assert np.allclose(loaded.vertices, mesh.vertices.numpy())
    assert np.array_equal(loaded.faces, mesh.faces.numpy())
    assert loaded.visual.vertex_colors[1, :3].tolist() == [0, 255, 0]


def test_unknown_format_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"unsupported mesh format '.fbx'"):
        write_mesh(textured_quad(), tmp_path / "quad.fbx")
    assert not list(tmp_path.iterdir())


def test_anny_body_glb_validates(tmp_path, anny_body):
    params = anny_body.default_params(1)
    out = anny_body.forward(params)
    mesh = Mesh(vertices=out.vertices[0].detach(), faces=anny_body.faces, uvs=anny_body.uvs, face_uvs=anny_body.face_uvs)
    path = write_mesh(mesh, tmp_path / "body.glb")
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    assert report["info"]["totalVertexCount"] >= anny_body.num_vertices
