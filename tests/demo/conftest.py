"""Launch ``python demo.py`` once per test session on a free local port, wait until it answers
(and its job worker has warmed up), and stop it at the end.  Server log: artifacts/demo/server.log."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "demo"
#: One create of the full-body example takes ~15-40 s on a 2-core CPU, more on a loaded one.
JOB_TIMEOUT_S = 400.0


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_url(artifacts):
    """URL of a demo running in a subprocess (one per session; both demo test files share it)."""
    pytest.importorskip("gradio", reason="the demo needs gradio (see pyproject's demo pins)")
    from avatar3d.bench.demo import DemoServer

    try:
        server = DemoServer(log_path=artifacts / "server.log", job_timeout_s=JOB_TIMEOUT_S).start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server.url
    finally:
        server.stop()
