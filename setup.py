"""Build the avatar3d rasteriser extension ``avatar3d.ops._C``.

Package metadata lives in pyproject.toml; this file only declares the compiled
extension. Install with ``pip install --no-build-isolation -e .`` (torch must
already be installed: the build compiles against it).

* The CPU kernels are always built (no CUDA needed).
* The CUDA kernels are added when ``torch.cuda.is_available()`` or the
  environment sets ``AVATAR3D_BUILD_CUDA=1``, and a CUDA toolkit (CUDA_HOME) is
  found.  ``AVATAR3D_BUILD_CUDA=0`` forces a CPU-only build.
"""
from __future__ import annotations

import glob
import os

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("cuda_ext", "csrc")


def _sources(*patterns: str) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        out += sorted(glob.glob(os.path.join(CSRC, pattern)))
    return out


def _want_cuda(cuda_home: str | None) -> bool:
    flag = os.environ.get("AVATAR3D_BUILD_CUDA", "")
    if flag == "0" or cuda_home is None:
        return False
    if flag == "1":
        return True
    import torch

    return torch.cuda.is_available()


def _extensions():
    from torch.utils.cpp_extension import CUDA_HOME, CppExtension, CUDAExtension

    sources = _sources("bindings.cpp", "torch/*_glue.cpp", "cpu/*_cpu.cpp")
    # -fopenmp: ATen's at::parallel_for is an inline OpenMP region; without it the
    # kernels would run single-threaded. At run time the libgomp.so.1 already
    # loaded by torch is reused (same soname), so there is one OpenMP runtime.
    cxx = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fopenmp"]
    link = ["-fopenmp"]
    include_dirs = [os.path.join(ROOT, CSRC)]
    if _want_cuda(CUDA_HOME):
        nvcc = ["-O3", "--fmad=false", "-lineinfo"]
        return [
            CUDAExtension(
                "avatar3d.ops._C",
                sources + _sources("cuda/*_cuda.cu"),
                include_dirs=include_dirs,
                define_macros=[("A3D_WITH_CUDA", "1")],
                extra_compile_args={"cxx": cxx, "nvcc": nvcc},
                extra_link_args=link,
            )
        ]
    return [
        CppExtension(
            "avatar3d.ops._C",
            sources,
            include_dirs=include_dirs,
            extra_compile_args={"cxx": cxx},
            extra_link_args=link,
        )
    ]


def _cmdclass():
    from torch.utils.cpp_extension import BuildExtension

    return {"build_ext": BuildExtension.with_options(use_ninja=True)}


setup(ext_modules=_extensions(), cmdclass=_cmdclass())
