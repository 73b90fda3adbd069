"""avatar3d.ops (L1): differentiable rasteriser ops.

``rasterize``, ``interpolate``, ``texture``, ``antialias`` — a small orthogonal op
set in the spirit of nvdiffrast, with three implementations each: multithreaded
C++ (CPU), CUDA kernels (for CUDA tensors) and a pure-PyTorch reference
(:mod:`avatar3d.ops.reference`, the fallback and the test oracle). Frames and
channel meanings are documented in :mod:`avatar3d.ops.functional`.

Importing this package loads no extension; the compiled ``avatar3d.ops._C`` is
imported on the first op call (``backend_info()`` reports without loading).
"""
from ._backend import backend_info, backend_name, set_backend
from .functional import antialias, edge_topology, interpolate, rasterize, texture

__all__ = [
    "rasterize",
    "interpolate",
    "texture",
    "antialias",
    "edge_topology",
    "backend_name",
    "backend_info",
    "set_backend",
]
