"""The shipped CMU pose prior: loads, separates mocap from random poses, is differentiable."""

import json

import numpy as np
import pytest
import torch

from avatar3d.core.rotations import axis_angle_to_matrix, quaternion_to_matrix
from avatar3d.fitting.pose_prior import DIM, PRIOR_JOINTS, PosePrior, default_prior_path

@pytest.fixture(scope="module")
def prior():
    return PosePrior.load()


@pytest.fixture(scope="module")
def held_out_poses():
    """``[N, 21, 3, 3]`` local rotations of the clips the shipped prior did not see, 10 fps."""
    from avatar3d.motion.retarget import load_cmu_clip, retarget
    from tests.motion.cmu_data import cmu_file

    held = PosePrior.provenance()["held_out"]
    assert held, "the prior must keep some clips out for this test"
    mats = []
    for name in held:
        motion = retarget(load_cmu_clip(cmu_file(name)), fps=10.0, dtype=torch.float64)
        mats.append(quaternion_to_matrix(motion.local_rotations[:, 1:]))
    return torch.cat(mats)


def test_asset_is_compact_and_documented(prior):
    path = default_prior_path()
    assert path.stat().st_size < 2_000_000
    info = json.loads(path.with_suffix(".json").read_text())
    used = {c["file"] for c in info["clips"]}
    assert used and not used & set(info["held_out"])
    assert {s["file"] for s in info["skipped"]} and all(s["variant"] == "cc_iclone" for s in info["skipped"])
    assert info["joints"] == list(PRIOR_JOINTS) and "command" in info and "created" in info
    assert 4 <= prior.num_components <= 16 and prior.means.shape == (prior.num_components, DIM)
    assert abs(prior.mixture.weights.sum() - 1.0) < 1e-5


def test_held_out_mocap_is_more_likely_than_random_poses(prior, held_out_poses):
    g = torch.Generator().manual_seed(0)
    random_poses = axis_angle_to_matrix(torch.randn(1000, 21, 3, generator=g, dtype=torch.float64) * 0.5)
    with torch.no_grad():
        nll_mocap = prior.nll(held_out_poses)
        nll_random = prior.nll(random_poses)
        rest = prior.nll(torch.eye(3, dtype=torch.float64).expand(1, 21, 3, 3))
    assert nll_mocap.shape == (len(held_out_poses),) and nll_random.shape == (1000,)
    # every held-out mocap pose beats even the best random pose (>= 95 % required)
    assert (nll_mocap < nll_random.min()).double().mean() >= 0.95
    # paired comparison as well, and the canonical rest pose is plausible too
    assert (nll_mocap < nll_random[: len(nll_mocap)]).double().mean() >= 0.95
    assert float(rest) < float(nll_random.min())
    # the exact mixture agrees with the max-mixture bound: -log sum <= min
    mix = prior.mixture_nll(held_out_poses)
    assert torch.all(mix <= nll_mocap + 1e-9) and torch.all(mix >= nll_mocap - np.log(prior.num_components) - 1e-9)


def test_joint_limits_admit_mocap_and_reject_random_poses(prior, held_out_poses):
    g = torch.Generator().manual_seed(1)
    random_poses = axis_angle_to_matrix(torch.randn(500, 21, 3, generator=g, dtype=torch.float64) * 0.5)
    with torch.no_grad():
        mocap = prior.joint_limit_penalty(held_out_poses)
        rand = prior.joint_limit_penalty(random_poses)
    assert (mocap == 0).double().mean() >= 0.95
    assert (rand > 0).double().mean() >= 0.95
    assert float(prior.joint_limit_penalty(torch.eye(3, dtype=torch.float64).expand(1, 21, 3, 3))) == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_are_finite(prior, dtype):
    g = torch.Generator().manual_seed(2)
    aa = (torch.randn(8, 21, 3, generator=g, dtype=torch.float64) * 0.4).to(dtype)
    aa[0] = 0.0  # exactly the rest pose (identity matrices)
    aa.requires_grad_(True)
    rot = axis_angle_to_matrix(aa)
    loss = prior.nll(rot) + prior.joint_limit_penalty(rot) * 10.0
    assert loss.dtype == dtype and loss.shape == (8,)
    loss.sum().backward()
    assert torch.isfinite(aa.grad).all()
    rot_direct = axis_angle_to_matrix(aa.detach()).requires_grad_(True)
    prior.nll(rot_direct).sum().backward()
    assert torch.isfinite(rot_direct.grad).all()


def test_gradcheck_float64(prior):
    g = torch.Generator().manual_seed(3)
    aa = (torch.randn(1, 21, 3, generator=g, dtype=torch.float64) * 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: prior.nll(axis_angle_to_matrix(x)), (aa,))
    assert torch.autograd.gradcheck(prior.mixture_nll_axis_angle, (aa,))


def test_shape_errors_name_the_argument(prior):
    with pytest.raises(ValueError, match=r"local_rotations must have shape \[B, 21, 3, 3\], got \[4, 22, 3, 3\]"):
        prior.nll(torch.eye(3).expand(4, 22, 3, 3))
