"""The CUDA kernels compile with nvcc (without torch headers); skipped where nvcc is missing."""
from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "cuda_ext" / "csrc"
NVCC = shutil.which("nvcc")


def test_sources_follow_the_layout():
    cu = sorted((CSRC / "cuda").glob("*.cu"))
    assert {p.stem for p in cu} >= {"rasterize_cuda", "interpolate_cuda", "texture_cuda", "antialias_cuda"}
    stems = [p.stem for p in CSRC.rglob("*") if p.suffix in (".cpp", ".cu", ".h", ".cuh")]
    assert len(stems) == len(set(stems)), "two sources share a name stem"
    bindings = (CSRC / "bindings.cpp").read_text()
    for op in ("rasterize", "interpolate", "texture", "antialias"):
        assert f'"{op}_fwd"' in bindings and f'"{op}_bwd"' in bindings
        assert (CSRC / "torch" / f"{op}_glue.cpp").exists() and (CSRC / "cpu" / f"{op}_cpu.cpp").exists()
    # kernels and common math stay framework-free (plain structs, no torch headers)
    for p in list((CSRC / "cuda").iterdir()) + list((CSRC / "common").iterdir()):
        text = p.read_text()
        for banned in ("#include <torch", "#include <ATen", "#include <c10", "at::Tensor"):
            assert banned not in text, (p.name, banned)


@pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) is not installed on this machine")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    sources = sorted((CSRC / "cuda").glob("*.cu"))

    def build(src: Path):
        cmd = [NVCC, "-c", "-std=c++17", "--fmad=false", "-O3", "-I", str(CSRC), str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        return src.name, subprocess.run(cmd, capture_output=True, text=True, timeout=600)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(build, sources))
    for name, r in results:
        assert r.returncode == 0, f"{name}:\n{r.stdout}\n{r.stderr}"
        assert (tmp_path / (Path(name).stem + ".o")).stat().st_size > 0
