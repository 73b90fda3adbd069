"""Run the Khronos glTF validator (npm `gltf-validator`) on a file; installs it once into a cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

VALIDATOR_VERSION = "2.0.0-dev.3.10"
CACHE = Path(os.environ.get("AVATAR3D_NODE_CACHE", Path.home() / ".cache" / "avatar3d" / "node"))
SCRIPT = """
const fs = require('fs');
const validator = require('gltf-validator');
const data = new Uint8Array(fs.readFileSync(process.argv[2]));
validator.validateBytes(data, {maxIssues: 200}).then((report) => {
  console.log(JSON.stringify(report));
}).catch((error) => { console.error(String(error)); process.exit(2); });
"""


def ensure_validator() -> Path:
    """The folder holding node_modules/gltf-validator (npm install on first use)."""
    module = CACHE / "node_modules" / "gltf-validator"
    if not module.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("npm is needed to install the Khronos glTF validator (apt-get install npm)")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                        f"gltf-validator@{VALIDATOR_VERSION}"], check=True, timeout=600, capture_output=True)
    (CACHE / "validate.js").write_text(SCRIPT, encoding="utf-8")
    return CACHE


def validate(path: str | Path) -> dict:
    """The validator's JSON report; ``report['issues']['numErrors']`` counts errors."""
    folder = ensure_validator()
    out = subprocess.run(["node", str(folder / "validate.js"), str(Path(path).resolve())], capture_output=True,
                         text=True, timeout=300, cwd=folder, check=True)
    return json.loads(out.stdout)


def errors_of(report: dict) -> list[str]:
    return [f"{m['code']}: {m['message']} ({m.get('pointer', '')})" for m in report["issues"]["messages"] if m["severity"] == 0]
