"""Backend choice: import never loads the extension; the reference fallback warns once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_does_not_load_extension():
    r = _run(
        "import sys, avatar3d, avatar3d.ops as ops\n"
        "assert 'avatar3d.ops._C' not in sys.modules, 'extension loaded at import'\n"
        "info = ops.backend_info()\n"
        "assert 'avatar3d.ops._C' not in sys.modules, 'backend_info loaded the extension'\n"
        "print(info)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(("cpp", "reference"))


def test_missing_extension_falls_back_with_one_warning():
    r = _run(
        "import sys, warnings, torch\n"
        "sys.modules['avatar3d.ops._C'] = None  # makes the import fail like a missing build\n"
        "import avatar3d.ops as ops\n"
        "pos = torch.tensor([[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]])\n"
        "faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    r1 = ops.rasterize(pos, faces, (16, 16))\n"
        "    r2 = ops.rasterize(pos, faces, (16, 16))\n"
        "    ops.interpolate(pos, r1, faces)\n"
        "n = sum(issubclass(x.category, RuntimeWarning) and '_C' in str(x.message) for x in w)\n"
        "assert n == 1, [str(x.message) for x in w]\n"
        "assert (r1[..., 3] > 0).sum() > 20 and torch.equal(r1, r2)\n"
        "print(ops.backend_name(), '|', ops.backend_info())\n"
    )
    assert r.returncode == 0, r.stderr
    name, info = r.stdout.strip().split(" | ")
    assert name == "reference"
    assert info.startswith("reference")


def test_backend_name_reports_cpp_when_built(need_ext):
    from avatar3d import ops

    assert ops.backend_name() in ("cpp", "cpp+cuda")
    assert ops.backend_info().startswith("cpp")


def test_forced_reference_backend_env():
    r = _run(
        "import os; os.environ['AVATAR3D_OPS_BACKEND'] = 'reference'\n"
        "import avatar3d.ops as ops, sys\n"
        "print(ops.backend_name()); assert 'avatar3d.ops._C' not in sys.modules\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "reference"
