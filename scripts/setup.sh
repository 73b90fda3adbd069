#!/usr/bin/env bash
# All set-up on a fresh machine (idempotent): a virtual environment in .venv with the CPU build
# of torch 2.13.0, then avatar3d and its dependencies, then the C++ rasteriser extension.
# Python 3.11 is required.  Nothing is downloaded at run time afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "avatar3d needs Python 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
import sys; raise SystemExit(0 if sys.version_info[:2] == (3, 11) else 1)
PY

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip "setuptools>=68" wheel
# torch first, pinned: an unpinned torch (or a newer range) pulls several GB of CUDA wheels.
"${PIP[@]}" install torch==2.13.0
# --no-build-isolation: build the C++ extension against the torch above, never a second one.
"${PIP[@]}" install --no-build-isolation -e ".[dev]"
echo "avatar3d set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
