"""Build assets/motion/canonical_smpl22.json: the SMPL-22 rest skeleton of Anny's average body.

    ANNY_CACHE_DIR=... python scripts/build_canonical_skeleton.py [--out PATH]

The joints are ``AnnyBody.smpl22_skeleton(shape)`` with all six phenotypes at 0.5, evaluated in
float64, in the world frame (metres, Y up, facing +Z, feet on y = 0).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import re
import sys
from importlib.metadata import version
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar3d.body import BodyConfig, create_body_model  # noqa: E402
from avatar3d.body.anny_backend import ANNY_PHENOTYPES  # noqa: E402
from avatar3d.motion.canonical import canonical_skeleton_path  # noqa: E402
from avatar3d.utils.atomic import atomic_write_bytes  # noqa: E402

log = logging.getLogger("build_canonical_skeleton")
AVERAGE_PHENOTYPE = 0.5
DECIMALS = 7
ASSET_MODE = 0o644  # atomic writes create 0600 temporaries; assets are world-readable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=canonical_skeleton_path())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    body = create_body_model(BodyConfig(model="anny", rig="anny", dtype="float64"))
    shape = torch.full((1, len(ANNY_PHENOTYPES)), AVERAGE_PHENOTYPE, dtype=torch.float64)
    skeleton = body.smpl22_skeleton(shape)
    data = {
        "description": "Canonical SMPL-22 rest skeleton: Anny average body (all phenotypes 0.5) at rest "
        "(identity pose, A-pose-like stance). Rest orientations are identity (core.kinematics convention).",
        "frame": "world (glTF): metres, Y up, facing +Z, person's left = +X, feet on y = 0",
        "units": "m",
        "names": list(skeleton.names),
        "parents": list(skeleton.parents),
        "rest_positions": [[round(float(v), DECIMALS) for v in row] for row in skeleton.rest_positions],
        "standing_height_m": round(float(body.standing_height(shape)[0]), 4),
        "source": {
            "body_model": "anny",
            "anny_version": version("anny"),
            "rig": "anny",
            "phenotypes": dict.fromkeys(ANNY_PHENOTYPES, AVERAGE_PHENOTYPE),
            "function": "avatar3d.body.anny_backend.AnnyBody.smpl22_skeleton",
            "dtype": "float64",
        },
        "command": "python scripts/build_canonical_skeleton.py",
        "created": datetime.date.today().isoformat(),
        "licence": "derived from Anny (Apache-2.0 code, CC0 MakeHuman assets)",
    }
    text = json.dumps(data, indent=1)
    # One line per list of scalars (names, parents, each joint's xyz) keeps the file readable.
    text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)
    atomic_write_bytes(args.out, (text + "\n").encode("utf-8"))
    args.out.chmod(ASSET_MODE)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
