"""Shared fixtures.  The Anny model is built once per session (first build of a rig ~50 s,
then cached under $ANNY_CACHE_DIR, default ~/.cache/avatar3d/anny)."""

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def anny_body():
    from avatar3d.body import BodyConfig, create_body_model

    return create_body_model(BodyConfig(model="anny", rig="anny"))


@pytest.fixture(scope="session")
def anny_body64():
    from avatar3d.body import BodyConfig, create_body_model

    return create_body_model(BodyConfig(model="anny", rig="anny", dtype="float64"))
