"""Static mesh files: OBJ (+MTL +PNG texture), binary PLY and GLB, written atomically.

Input meshes are in the world frame (metres, Y up), which is also glTF's frame, so GLB needs
no conversion.  UVs follow glTF (v down, (0, 0) = top-left); OBJ stores v up, so v is flipped.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import Mesh
from avatar3d.core.geometry import seam_split
from avatar3d.utils.atomic import atomic_write_bytes
from avatar3d.utils.errors import UserError

MESH_FORMATS = ("glb", "obj", "ply")


def write_mesh(mesh: Mesh, path: str | Path) -> Path:
    """Write ``mesh`` in the format given by the file extension (.glb, .obj or .ply)."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        raise UserError(
            f"unsupported mesh format {path.suffix!r} for {path}",
            f"use one of: {', '.join('.' + f for f in MESH_FORMATS)}",
        )
    writer = {"glb": write_glb, "obj": write_obj, "ply": write_ply}[suffix]
    return writer(mesh, path)


def _np(t: torch.Tensor | None, dtype) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(dtype)


def _png_bytes(texture: torch.Tensor) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_np(texture, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_obj(mesh: Mesh, path: str | Path) -> Path:
    """Wavefront OBJ; with a texture also ``<stem>.mtl`` and ``<stem>.png`` beside it."""
    path = Path(path)
    lines = [f"# avatar3d mesh: {mesh.vertices.shape[0]} vertices, {mesh.faces.shape[0]} faces; metres, Y up"]
    textured = mesh.uvs is not None and mesh.texture is not None
    if textured:
        lines += [f"mtllib {path.stem}.mtl", "usemtl skin"]
    verts = _np(mesh.vertices, np.float64)
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    faces = _np(mesh.faces, np.int64) + 1
    if mesh.uvs is not None:
        uvs = _np(mesh.uvs, np.float64)
        lines += [f"vt {u:.6f} {1.0 - v:.6f}" for u, v in uvs]
        fuv = _np(mesh.face_uvs, np.int64) + 1
        lines += [f"f {a}/{ta} {b}/{tb} {c}/{tc}" for (a, b, c), (ta, tb, tc) in zip(faces, fuv)]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in faces]
    if textured:
        mtl = f"newmtl skin\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {path.stem}.png\n"
        atomic_write_bytes(path.with_suffix(".png"), _png_bytes(mesh.texture))
        atomic_write_bytes(path.with_suffix(".mtl"), mtl.encode())
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def write_ply(mesh: Mesh, path: str | Path) -> Path:
    """Binary little-endian PLY with float32 positions (and uchar colours if present)."""
    verts = _np(mesh.vertices, np.float32)
    faces = _np(mesh.faces, np.int32)
    colors = None if mesh.vertex_colors is None else (np.clip(_np(mesh.vertex_colors, np.float32), 0, 1) * 255).astype(np.uint8)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(verts)}",
              "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    if colors is None:
        vertex_block = verts.tobytes()
    else:
        record = np.dtype([("p", "<f4", 3), ("c", "u1", 3)])
        packed = np.empty(len(verts), dtype=record)
        packed["p"], packed["c"] = verts, colors
        vertex_block = packed.tobytes()
    face_record = np.dtype([("n", "u1"), ("i", "<i4", 3)])
    face_block = np.empty(len(faces), dtype=face_record)
    face_block["n"], face_block["i"] = 3, faces
    data = ("\n".join(header) + "\n").encode() + vertex_block + face_block.tobytes()
    return atomic_write_bytes(path, data)


def split_uv_seams(mesh: Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """glTF needs one UV per vertex: duplicate vertices where corners use different UVs.

    Returns (positions [V', 3], faces [F, 3], uvs [V', 2] or None, source_vertex [V'] = index of
    the original vertex each output vertex copies, so per-vertex data such as skin weights
    can follow).
    """
    verts = _np(mesh.vertices, np.float32)
    faces = _np(mesh.faces, np.int64)
    if mesh.uvs is None:
        return verts, faces.astype(np.uint32), None, np.arange(len(verts))
    split = seam_split(mesh.faces.detach().cpu(), mesh.face_uvs.detach().cpu())
    source, split_faces, uv_index = (t.numpy() for t in split)
    uvs = _np(mesh.uvs, np.float32)[uv_index]
    return verts[source], split_faces.astype(np.uint32), uvs, source


class GlbBuilder:
    """Accumulates binary buffer views and accessors for one GLB file (pygltflib)."""

    def __init__(self) -> None:
        import pygltflib as g

        self.g = g
        self.gltf = g.GLTF2(asset=g.Asset(generator="avatar3d", version="2.0"))
        self.gltf.scene = 0
        self.blob = bytearray()

    def _view(self, data: bytes, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        view = self.g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target)
        self.blob.extend(data)
        self.gltf.bufferViews.append(view)
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, minmax: bool = False) -> int:
        """Add ``array`` as an accessor of glTF type ``kind`` ("SCALAR", "VEC2", "VEC3", "VEC4", "MAT4")."""
        g = self.g
        component = {
            np.dtype(np.float32): g.FLOAT, np.dtype(np.uint32): g.UNSIGNED_INT,
            np.dtype(np.uint16): g.UNSIGNED_SHORT, np.dtype(np.uint8): g.UNSIGNED_BYTE,
        }[array.dtype]
        array = np.ascontiguousarray(array)
        count = array.shape[0]
        flat = array.reshape(count, -1)
        acc = g.Accessor(bufferView=self._view(array.tobytes(), target), componentType=component, count=count, type=kind)
        if minmax:
            acc.min = flat.min(axis=0).tolist()
            acc.max = flat.max(axis=0).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    def image(self, png: bytes) -> int:
        g = self.g
        self.gltf.images.append(g.Image(bufferView=self._view(png), mimeType="image/png"))
        self.gltf.samplers.append(g.Sampler(magFilter=g.LINEAR, minFilter=g.LINEAR_MIPMAP_LINEAR, wrapS=g.CLAMP_TO_EDGE, wrapT=g.CLAMP_TO_EDGE))
        self.gltf.textures.append(g.Texture(sampler=len(self.gltf.samplers) - 1, source=len(self.gltf.images) - 1))
        return len(self.gltf.textures) - 1

    def finish(self) -> bytes:
        g = self.g
        while len(self.blob) % 4:
            self.blob.append(0)
        self.gltf.buffers = [g.Buffer(byteLength=len(self.blob))]
        self.gltf.set_binary_blob(bytes(self.blob))
        return b"".join(self.gltf.save_to_bytes())


def add_mesh_primitive(builder: GlbBuilder, mesh: Mesh) -> tuple[int, np.ndarray]:
    """Add ``mesh`` (positions, normals, UVs, texture material) as glTF mesh 0.

    Returns (mesh index, source_vertex map from :func:`split_uv_seams`).
    """
    g = builder.g
    positions, faces, uvs, source = split_uv_seams(mesh)
    normals = mesh.vertex_normals().detach().cpu().numpy().astype(np.float32)[source]
    attributes = g.Attributes(
        POSITION=builder.accessor(positions, "VEC3", g.ARRAY_BUFFER, minmax=True),
        NORMAL=builder.accessor(normals, "VEC3", g.ARRAY_BUFFER),
    )
    if uvs is not None:
        attributes.TEXCOORD_0 = builder.accessor(uvs, "VEC2", g.ARRAY_BUFFER)
    indices = builder.accessor(faces.reshape(-1), "SCALAR", g.ELEMENT_ARRAY_BUFFER)
    pbr = g.PbrMetallicRoughness(baseColorFactor=[0.8, 0.8, 0.8, 1.0], metallicFactor=0.0, roughnessFactor=0.9)
    if mesh.texture is not None and uvs is not None:
        pbr.baseColorFactor = [1.0, 1.0, 1.0, 1.0]
        pbr.baseColorTexture = g.TextureInfo(index=builder.image(_png_bytes(mesh.texture)))
    builder.gltf.materials.append(g.Material(name="skin", pbrMetallicRoughness=pbr, doubleSided=False))
    builder.gltf.meshes.append(g.Mesh(name="body", primitives=[g.Primitive(attributes=attributes, indices=indices, material=len(builder.gltf.materials) - 1)]))
    return len(builder.gltf.meshes) - 1, source


def write_glb(mesh: Mesh, path: str | Path) -> Path:
    """A static (unskinned) GLB of ``mesh``; textured when the mesh has UVs and a texture."""
    builder = GlbBuilder()
    mesh_index, _ = add_mesh_primitive(builder, mesh)
    g = builder.g
    builder.gltf.nodes.append(g.Node(name="body", mesh=mesh_index))
    builder.gltf.scenes.append(g.Scene(nodes=[0]))
    return atomic_write_bytes(path, builder.finish())


def read_glb_summary(path: str | Path) -> dict[str, int]:
    """Counts of the main glTF objects in a GLB (for tests and `doctor`-style checks)."""
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"glTF":
        raise UserError(f"{path} is not a GLB file")
    (version,) = struct.unpack_from("<I", data, 4)
    import pygltflib

    gltf = pygltflib.GLTF2.load_from_bytes(data)
    return {"version": version, "meshes": len(gltf.meshes), "nodes": len(gltf.nodes), "skins": len(gltf.skins), "animations": len(gltf.animations)}
