"""Architecture guard (DESIGN.md section 2): imports only point down the layers.

A module may import from a strictly lower layer, or from inside its own package.  Siblings on
one layer never import each other.  Layer 8 (the shell) is ordered: config < api, diagnostics
< train, bench < cli.  Only avatar3d/ops touches the compiled extension, and demo.py imports
only avatar3d.api and avatar3d.config.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "avatar3d"

LAYERS: dict[str, float] = {
    "core": 0, "utils": 0,
    "ops": 1,
    "render": 2, "body": 2,
    "perception": 3,
    "encoder": 4, "fitting": 4, "motion": 4,
    "appearance": 5,
    "avatar": 6,
    "export": 7,
    "config": 8.0,
    "api": 8.1, "diagnostics": 8.1,
    "train": 8.2, "bench": 8.2,
    "cli": 8.3,
}


def unit_of(module: str) -> str | None:
    """'avatar3d.body.anny_backend' -> 'body'; the package root itself -> None."""
    parts = module.split(".")
    if parts[0] != "avatar3d" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from avatar3d import body` imports the body package
            if target == "avatar3d":
                found += [(node.lineno, f"avatar3d.{a.name}") for a in node.names if a.name in LAYERS]
    return found


def python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_unit_has_a_layer():
    units = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in python_files()}
    units -= {"__init__"}
    assert units <= set(LAYERS), f"add a layer for: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path):
    me = unit_of(module_name(path))
    if me is None:
        return  # avatar3d/__init__.py imports nothing heavy; checked by test_imports
    problems = []
    for line, target in imports_of(path):
        other = unit_of(target)
        if other is None or other == me:
            continue
        if LAYERS[other] >= LAYERS[me]:
            problems.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {target} (layer {LAYERS[other]})")
        if target.startswith("avatar3d.ops._") and me != "ops":
            problems.append(f"line {line}: only avatar3d.ops may touch the compiled extension ({target})")
    assert not problems, "\n".join(problems)


def test_the_guard_catches_an_upward_import(tmp_path):
    """The checker itself must fail on a violation (so a green run means something)."""
    bad = PACKAGE / "core" / "_layering_probe.py"
    bad.write_text("from avatar3d.body import create_body_model\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="core .layer 0. imports avatar3d.body"):
            test_imports_point_down(bad)
    finally:
        bad.unlink()
