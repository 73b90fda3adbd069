"""Pure-PyTorch reference implementations of the rasteriser ops.

These are the CPU fallback (when the compiled extension is missing, or for
float64 inputs) and the test oracle of the C++ / CUDA kernels. Every function
is differentiable with ordinary autograd and works in float32 and float64.

The floating point sequence of the rasteriser math deliberately follows
``cuda_ext/csrc/common/raster_math.h`` operation by operation, so the compiled
and the reference rasterisers agree to the last bit on almost every pixel.

Inputs are assumed validated by :mod:`avatar3d.ops` (shapes, dtypes, ranges).
Conventions are documented in :mod:`avatar3d.ops`.
"""
from __future__ import annotations

import torch

__all__ = [
    "rasterize",
    "interpolate",
    "texture",
    "antialias",
    "edge_topology",
]

# Upper bound on (triangle, pixel) candidate pairs processed at once.
_CHUNK_CANDIDATES = 1 << 22


def _screen(pos: torch.Tensor, height: int, width: int):
    """Clip [..., 4] -> screen x, y (pixel units), z/w, 1/w (same op order as C++)."""
    x, y, z, w = pos.unbind(-1)
    hw = 0.5 * float(width)
    hh = 0.5 * float(height)
    sx = (x / w + 1.0) * hw
    sy = (y / w + 1.0) * hh
    return sx, sy, z / w, 1.0 / w


class _Setup:
    """Per-triangle screen-space setup (mirrors ``a3d::TriSetup``)."""

    def __init__(self, tri: torch.Tensor, height: int, width: int):
        # tri: [T, 3, 4] clip positions of the three vertices
        sx, sy, zw, iw = _screen(tri, height, width)
        self.s0x, self.s0y = sx[:, 0], sy[:, 0]
        self.d1x, self.d1y = sx[:, 1] - sx[:, 0], sy[:, 1] - sy[:, 0]
        self.d2x, self.d2y = sx[:, 2] - sx[:, 0], sy[:, 2] - sy[:, 0]
        self.A = self.d1x * self.d2y - self.d1y * self.d2x
        self.invA = 1.0 / self.A
        self.zw = zw
        self.iw = iw
        self.sx, self.sy = sx, sy

    def index(self, idx: torch.Tensor) -> "_Setup":
        s = object.__new__(_Setup)
        for k, v in self.__dict__.items():
            s.__dict__[k] = v[idx]
        return s

    def edges(self, px: torch.Tensor, py: torch.Tensor):
        qx = px - self.s0x
        qy = py - self.s0y
        e1 = qx * self.d2y - qy * self.d2x
        e2 = self.d1x * qy - self.d1y * qx
        e0 = self.A - e1 - e2
        return e0, e1, e2

    def depth(self, e0, e1, e2):
        b0, b1, b2 = e0 * self.invA, e1 * self.invA, e2 * self.invA
        return b0 * self.zw[:, 0] + b1 * self.zw[:, 1] + b2 * self.zw[:, 2] + 0.0

    def uv(self, e0, e1, e2):
        c0 = (e0 * self.invA) * self.iw[:, 0]
        c1 = (e1 * self.invA) * self.iw[:, 1]
        c2 = (e2 * self.invA) * self.iw[:, 2]
        s = c0 + c1 + c2
        return c1 / s, c2 / s


def _candidate_fragments(setup: _Setup, valid: torch.Tensor, height: int, width: int):
    """All covered (triangle, pixel) fragments with their depth (no grad)."""
    sx, sy = setup.sx, setup.sy
    xmin = sx.amin(1) - 0.5
    xmax = sx.amax(1) - 0.5
    ymin = sy.amin(1) - 0.5
    ymax = sy.amax(1) - 0.5
    valid = valid & (xmax >= 0) & (ymax >= 0) & (xmin <= width - 1) & (ymin <= height - 1)
    x0 = torch.ceil(xmin.clamp(min=0)).long()
    y0 = torch.ceil(ymin.clamp(min=0)).long()
    x1 = torch.floor(xmax.clamp(max=width - 1)).long()
    y1 = torch.floor(ymax.clamp(max=height - 1)).long()
    nx = (x1 - x0 + 1).clamp(min=0)
    ny = (y1 - y0 + 1).clamp(min=0)
    count = torch.where(valid, nx * ny, torch.zeros_like(nx))
    tri_ids = torch.nonzero(count > 0).squeeze(1)
    frags_t, frags_p, frags_z = [], [], []
    if tri_ids.numel() == 0:
        return (torch.zeros(0, dtype=torch.long, device=sx.device),) * 2 + (sx.new_zeros(0),)
    cnt = count[tri_ids]
    cum = torch.cumsum(cnt, 0)
    start = 0
    while start < tri_ids.numel():
        base = cum[start - 1] if start > 0 else cum.new_zeros(())
        stop = int(torch.searchsorted(cum, base + _CHUNK_CANDIDATES, right=True))
        stop = max(stop, start + 1)
        ids = tri_ids[start:stop]
        c = cnt[start:stop]
        t = torch.repeat_interleave(ids, c)
        offs = torch.arange(int(c.sum()), device=sx.device) - torch.repeat_interleave(
            torch.cumsum(c, 0) - c, c
        )
        px = x0[t] + offs % nx[t]
        py = y0[t] + torch.div(offs, nx[t], rounding_mode="floor")
        s = setup.index(t)
        dt = sx.dtype
        e0, e1, e2 = s.edges(px.to(dt) + 0.5, py.to(dt) + 0.5)
        pos_side = s.A > 0
        inside = torch.where(
            pos_side,
            (e0 >= 0) & (e1 >= 0) & (e2 >= 0),
            (e0 <= 0) & (e1 <= 0) & (e2 <= 0),
        )
        z = s.depth(e0, e1, e2)
        keep = inside & (z >= -1) & (z <= 1)
        frags_t.append(t[keep])
        frags_p.append((py * width + px)[keep])
        frags_z.append(z[keep])
        start = stop
    return torch.cat(frags_t), torch.cat(frags_p), torch.cat(frags_z)


def rasterize(pos: torch.Tensor, faces: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """Reference rasteriser. pos [B, V, 4], faces [F, 3] -> rast [B, H, W, 4].

    Differentiable w.r.t. ``pos`` through channels 0..2 (u, v, z/w).
    """
    height, width = int(resolution[0]), int(resolution[1])
    B = pos.shape[0]
    F = faces.shape[0]
    fl = faces.long()
    out = []
    for b in range(B):
        tri = pos[b][fl]  # [F, 3, 4]
        with torch.no_grad():
            setup = _Setup(tri.detach(), height, width)
            w = tri[..., 3].detach()
            zw = setup.zw
            valid = (w > 0).all(1) & (setup.A != 0) & torch.isfinite(setup.A)
            valid &= ~((zw.amin(1) > 1) | (zw.amax(1) < -1))
            t, p, z = _candidate_fragments(setup, valid, height, width)
            npix = height * width
            best_z = torch.full((npix,), float("inf"), dtype=pos.dtype, device=pos.device)
            best_z.scatter_reduce_(0, p, z, reduce="amin")
            at_best = z == best_z[p]
            best_t = torch.full((npix,), F, dtype=torch.long, device=pos.device)
            best_t.scatter_reduce_(0, p[at_best], t[at_best], reduce="amin")
            pix = torch.nonzero(best_t < F).squeeze(1)
            win = best_t[pix]
        # differentiable recomputation for the winning fragments only
        s = _Setup(tri[win], height, width)
        dt = pos.dtype
        px = (pix % width).to(dt) + 0.5
        py = torch.div(pix, width, rounding_mode="floor").to(dt) + 0.5
        e0, e1, e2 = s.edges(px, py)
        u, v = s.uv(e0, e1, e2)
        z = s.depth(e0, e1, e2)
        vals = torch.stack([u, v, z, (win + 1).to(dt)], dim=-1)
        img = pos.new_zeros(height * width, 4).index_put((pix,), vals)
        out.append(img.view(height, width, 4))
    return torch.stack(out, 0)


def _pixel_faces(rast: torch.Tensor, faces: torch.Tensor, num_vertices: int):
    """Flattened covered pixel indices and their faces (long [N, 3])."""
    B, H, W, _ = rast.shape
    ids = rast[..., 3].detach().reshape(-1)
    F = faces.shape[0]
    tri = ids.long() - 1
    ok = (ids > 0) & (tri < F)
    pix = torch.nonzero(ok).squeeze(1)
    fv = faces.long()[tri[pix]]
    good = ((fv >= 0) & (fv < num_vertices)).all(1)
    return pix[good], fv[good]


def interpolate(attr: torch.Tensor, rast: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """attr [B, V, C] or [V, C], rast [B, H, W, 4] -> [B, H, W, C] (zeros where empty)."""
    B, H, W, _ = rast.shape
    C = attr.shape[-1]
    V = attr.shape[-2]
    pix, fv = _pixel_faces(rast, faces, V)
    flat = rast.reshape(-1, 4)
    u = flat[pix, 0:1]
    v = flat[pix, 1:2]
    w0 = 1.0 - u - v
    if attr.dim() == 3:
        b = torch.div(pix, H * W, rounding_mode="floor")
        a0, a1, a2 = attr[b, fv[:, 0]], attr[b, fv[:, 1]], attr[b, fv[:, 2]]
    else:
        a0, a1, a2 = attr[fv[:, 0]], attr[fv[:, 1]], attr[fv[:, 2]]
    vals = a0 * w0 + a1 * u + a2 * v
    out = attr.new_zeros(B * H * W, C).index_put((pix,), vals)
    return out.view(B, H, W, C)


def _reduce_coord(u: torch.Tensor, wrap: bool) -> torch.Tensor:
    if wrap:
        r = u - torch.floor(u)
        return torch.where(r < 1.0, r, torch.zeros_like(r))
    return u.clamp(-1.0, 2.0)


def texture(tex: torch.Tensor, uv: torch.Tensor, filter: str = "bilinear", boundary: str = "wrap") -> torch.Tensor:
    """tex [Bt, Ht, Wt, C] (Bt = B or 1), uv [B, H, W, 2] -> [B, H, W, C]."""
    Bt, Ht, Wt, C = tex.shape
    B, H, W, _ = uv.shape
    wrap = boundary == "wrap"
    u = _reduce_coord(uv[..., 0], wrap)
    v = _reduce_coord(uv[..., 1], wrap)
    flat = tex.reshape(Bt, Ht * Wt, C)
    bidx = torch.arange(B, device=uv.device).view(B, 1, 1).expand(B, H, W)
    if Bt == 1:
        bidx = torch.zeros_like(bidx)

    def fix(i, n):
        return torch.remainder(i, n) if wrap else i.clamp(0, n - 1)

    def fetch(iy, ix):
        return flat[bidx, iy * Wt + ix]

    if filter == "nearest":
        ix = fix(torch.floor(u * Wt).long(), Wt)
        iy = fix(torch.floor(v * Ht).long(), Ht)
        return fetch(iy, ix)
    x = u * Wt - 0.5
    y = v * Ht - 0.5
    fx0 = torch.floor(x).detach()
    fy0 = torch.floor(y).detach()
    fx = (x - fx0).unsqueeze(-1)
    fy = (y - fy0).unsqueeze(-1)
    x0 = fx0.long()
    y0 = fy0.long()
    xa, xb = fix(x0, Wt), fix(x0 + 1, Wt)
    ya, yb = fix(y0, Ht), fix(y0 + 1, Ht)
    return (
        fetch(ya, xa) * ((1.0 - fx) * (1.0 - fy))
        + fetch(ya, xb) * (fx * (1.0 - fy))
        + fetch(yb, xa) * ((1.0 - fx) * fy)
        + fetch(yb, xb) * (fx * fy)
    )


def edge_topology(faces: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """For every face edge k (joining vertices k+1 and k+2 of the face), the vertex
    of a neighbouring face opposite that edge, or -1 on a boundary edge.

    faces int32 [F, 3] -> int32 [F, 3]. Non-manifold edges (more than two faces)
    link each face to the next one in sorted order (deterministic).
    """
    F = faces.shape[0]
    fl = faces.long()
    a = fl[:, [1, 2, 0]]
    b = fl[:, [2, 0, 1]]
    key = (torch.minimum(a, b) * num_vertices + torch.maximum(a, b)).reshape(-1)
    opp = fl.reshape(-1)  # edge k of face f is opposite vertex fl[f, k]
    order = torch.argsort(key, stable=True)
    ks = key[order]
    n = ks.numel()
    topo = torch.full((n,), -1, dtype=torch.long, device=faces.device)
    if n > 1:
        same_next = torch.zeros(n, dtype=torch.bool, device=faces.device)
        same_next[:-1] = ks[1:] == ks[:-1]
        same_prev = torch.zeros(n, dtype=torch.bool, device=faces.device)
        same_prev[1:] = same_next[:-1]
        nxt = torch.roll(order, -1)
        prv = torch.roll(order, 1)
        nb = torch.where(same_next, nxt, torch.where(same_prev, prv, torch.full_like(order, -1)))
        has = nb >= 0
        topo[order[has]] = opp[nb[has]]
    return topo.view(F, 3).to(torch.int32)


def _aa_pairs(rast_b, pos_b, faces, topo, height, width, axis):
    """All antialiasing events of one view along one axis (1 = horizontal pairs).

    Returns (target_pix, source_pix, alpha) with alpha differentiable w.r.t. pos_b.
    """
    dev = rast_b.device
    rd = rast_b.detach()
    if axis == 1:
        P = rd[:, :-1]
        Q = rd[:, 1:]
        iy, ix = torch.meshgrid(
            torch.arange(height, device=dev), torch.arange(width - 1, device=dev), indexing="ij"
        )
        qy, qx = iy, ix + 1
    else:
        P = rd[:-1, :]
        Q = rd[1:, :]
        iy, ix = torch.meshgrid(
            torch.arange(height - 1, device=dev), torch.arange(width, device=dev), indexing="ij"
        )
        qy, qx = iy + 1, ix
    idP, idQ = P[..., 3].reshape(-1), Q[..., 3].reshape(-1)
    zP, zQ = P[..., 2].reshape(-1), Q[..., 2].reshape(-1)
    pP = (iy * width + ix).reshape(-1)
    pQ = (qy * width + qx).reshape(-1)
    F = faces.shape[0]
    V = pos_b.shape[0]
    tP = idP.long() - 1
    tQ = idQ.long() - 1
    okP = (tP >= 0) & (tP < F)
    okQ = (tQ >= 0) & (tQ < F)
    sel = (tP != tQ) & (okP | okQ)
    idx = torch.nonzero(sel).squeeze(1)
    tP, tQ, okP, okQ, zP, zQ, pP, pQ = (x[idx] for x in (tP, tQ, okP, okQ, zP, zQ, pP, pQ))
    front_q = ~okP | (okQ & ((zQ < zP) | ((zQ == zP) & (tQ < tP))))
    tri = torch.where(front_q, tQ, tP)
    fpix = torch.where(front_q, pQ, pP)
    opix = torch.where(front_q, pP, pQ)
    dt = pos_b.dtype
    fx = (fpix % width).to(dt) + 0.5
    fy = torch.div(fpix, width, rounding_mode="floor").to(dt) + 0.5
    ox = (opix % width).to(dt) + 0.5
    oy = torch.div(opix, width, rounding_mode="floor").to(dt) + 0.5
    fv = faces.long()[tri]
    p = pos_b[fv]  # [N, 3, 4]
    good = (p[..., 3].detach() > 0).all(1)
    sx, sy, _, _ = _screen(p, height, width)
    sxd, syd = sx.detach(), sy.detach()
    A = (sxd[:, 1] - sxd[:, 0]) * (syd[:, 2] - syd[:, 0]) - (syd[:, 1] - syd[:, 0]) * (sxd[:, 2] - sxd[:, 0])
    good = good & (A != 0)
    sg = torch.where(A > 0, 1.0, -1.0).to(dt)
    best_t = torch.full_like(fx, 2.0)
    best_k = torch.full_like(tri, -1)
    for k in range(3):
        a, b = (k + 1) % 3, (k + 2) % 3
        ex, ey = sxd[:, b] - sxd[:, a], syd[:, b] - syd[:, a]
        eF = ex * (fy - syd[:, a]) - ey * (fx - sxd[:, a])
        eO = ex * (oy - syd[:, a]) - ey * (ox - sxd[:, a])
        cross = (eF * sg >= 0) & (eO * sg < 0)
        t = eF / torch.where(cross, eF - eO, torch.ones_like(eF))
        better = cross & (t < best_t)
        best_t = torch.where(better, t, best_t)
        best_k = torch.where(better, torch.full_like(best_k, k), best_k)
    good = good & (best_k >= 0)
    kk = best_k.clamp(min=0)
    ka, kb = (kk + 1) % 3, (kk + 2) % 3
    ar = torch.arange(kk.numel(), device=dev)
    # silhouette test against the neighbour across the edge
    opp = topo.long()[tri, kk]
    has_nb = (opp >= 0) & (opp < V)
    pd = pos_b.detach()[opp.clamp(min=0)]
    nb_front = has_nb & (pd[:, 3] > 0)
    dsx, dsy, _, _ = _screen(pd, height, width)
    ax_, ay_ = sxd[ar, ka], syd[ar, ka]
    ex, ey = sxd[ar, kb] - ax_, syd[ar, kb] - ay_
    sc = ex * (syd[ar, kk] - ay_) - ey * (sxd[ar, kk] - ax_)
    sd = ex * (dsy - ay_) - ey * (dsx - ax_)
    good = good & (~nb_front | (sc * sd > 0))
    # differentiable edge crossing
    axd, ayd = sx[ar, ka], sy[ar, ka]
    bxd, byd = sx[ar, kb], sy[ar, kb]
    eF = (bxd - axd) * (fy - ayd) - (byd - ayd) * (fx - axd)
    eO = (bxd - axd) * (oy - ayd) - (byd - ayd) * (ox - axd)
    den = torch.where(good, eF - eO, torch.ones_like(eF))
    t = eF / den
    td = best_t
    to_other = td > 0.5
    alpha = torch.where(to_other, t - 0.5, 0.5 - t)
    good = good & (torch.where(to_other, td - 0.5, 0.5 - td) > 0)
    target = torch.where(to_other, opix, fpix)
    source = torch.where(to_other, fpix, opix)
    return target[good], source[good], alpha[good]


def antialias(
    color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, faces: torch.Tensor, topo: torch.Tensor
) -> torch.Tensor:
    """color [B, H, W, C], rast [B, H, W, 4], pos [B, V, 4] or [V, 4] -> [B, H, W, C]."""
    B, H, W, C = color.shape
    out = []
    for b in range(B):
        pos_b = pos[b] if pos.dim() == 3 else pos
        col = color[b].reshape(H * W, C)
        delta = []
        tgts = []
        for axis in (1, 0):
            tgt, src, alpha = _aa_pairs(rast[b], pos_b, faces, topo, H, W, axis)
            delta.append(alpha.unsqueeze(-1).to(color.dtype) * (col[src] - col[tgt]))
            tgts.append(tgt)
        res = col.index_add(0, torch.cat(tgts), torch.cat(delta))
        out.append(res.view(H, W, C))
    return torch.stack(out, 0)
