"""demo.py is UI only: from avatar3d it imports nothing but avatar3d.api and avatar3d.config."""

import ast
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "demo.py"


def test_demo_imports_only_api_and_config():
    found = set()
    for node in ast.walk(ast.parse(DEMO.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("avatar3d")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("avatar3d"):
            found |= {f"{node.module}.{a.name}" if node.module == "avatar3d" else node.module for a in node.names}
    assert found and found <= {"avatar3d.api", "avatar3d.config"}, found


def test_demo_defaults_are_local_and_private():
    text = DEMO.read_text(encoding="utf-8")
    assert 'default="127.0.0.1"' in text and '"--share", action="store_true"' in text
    assert 'os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"' in text
