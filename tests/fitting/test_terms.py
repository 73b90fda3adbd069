"""Fitting loss terms against direct formulations."""
from __future__ import annotations

import torch

from avatar3d.fitting import terms


def test_contour_cover_loss_matches_the_full_chamfer_min():
    """Value and gradient equal the minimum over all (mask point, vertex) distances, differentiated
    through that minimum, for a batch of two contours."""
    g = torch.Generator().manual_seed(4)
    projected = (torch.rand(2, 300, 2, generator=g, dtype=torch.float64) * 200).requires_grad_(True)
    mask = torch.rand(90, 2, generator=g, dtype=torch.float64) * 200
    loss = terms.contour_cover_loss(projected, mask, 50.0)
    (grad,) = torch.autograd.grad(loss.sum(), projected)
    full = (mask[None, :, None, :] - projected[:, None, :, :]).norm(dim=-1)  # [2, 90, 300]
    expected = ((full.min(dim=-1).values / 50.0) ** 2).mean(-1)
    (expected_grad,) = torch.autograd.grad(expected.sum(), projected)
    assert torch.allclose(loss, expected, rtol=1e-12, atol=0)
    assert torch.allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)
    assert int((grad.abs().sum(-1) > 0).sum()) <= 2 * 90  # only nearest vertices move
    # moving every vertex onto its nearest mask point zeroes the term for those points
    assert float(terms.contour_cover_loss(mask[None].clone(), mask, 50.0)) == 0.0
