"""Shared fixtures for the rasteriser op tests."""
from __future__ import annotations

import numpy as np
import pytest

from ops_helpers import DATA


@pytest.fixture(scope="session")
def body_npz():
    return np.load(DATA / "anny_body.npz")


@pytest.fixture(scope="session")
def ext_available():
    from avatar3d.ops import _backend

    return _backend._load() is not None


@pytest.fixture
def need_ext(ext_available):
    if not ext_available:
        pytest.skip("compiled extension avatar3d.ops._C is not built")
