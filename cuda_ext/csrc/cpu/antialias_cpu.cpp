// Analytic edge antialiasing (forward + backward) on the CPU.
//
// For each horizontally / vertically adjacent pixel pair whose triangle ids
// differ, aa_pair() (common/raster_math.h) finds the silhouette edge of the
// front triangle crossing the segment between the two pixel centres and a blend
// weight alpha; exactly one pixel of the pair (the "target") receives
// alpha * (colour of the other pixel - its own colour).  Each output pixel is
// owned by one task, which evaluates the (up to four) pairs it belongs to, so
// there are no write races; position gradients go to per-part buffers.
#include <cstring>
#include <vector>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"

namespace a3d {
namespace cpu {
namespace {

struct View {
    const float* rast;
    const ProjVert* pv;   // projected vertices of this view
    const int32_t* faces;
    const int32_t* topo;
    const uint8_t* sil;   // silhouette bits per triangle of this view
    int V, F, H, W;
};

// Project every vertex once per call (nviews = pos_batched ? B : 1) and
// precompute the silhouette bits of every triangle.
inline void prepare(const float* pos, int nviews, int V, int F, const int32_t* faces, const int32_t* topo,
                    int H, int W, std::vector<ProjVert>& pvs, std::vector<uint8_t>& sil) {
    const int64_t n = (int64_t)nviews * V;
    pvs.resize((size_t)n);
    sil.resize((size_t)nviews * F);
    ProjVert* o = pvs.data();
    parallel_for(0, n, 4096, [&](int64_t v0, int64_t v1) {
        for (int64_t v = v0; v < v1; ++v) project_vertex(pos + 4 * v, H, W, o[v]);
    });
    uint8_t* s = sil.data();
    parallel_for(0, (int64_t)nviews * F, 2048, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int b = (int)(t / F), f = (int)(t % F);
            s[t] = (uint8_t)silhouette_bits(ProjectedVerts{o + (int64_t)b * V}, faces, topo, V, f);
        }
    });
}

// Evaluate the pair (P = (y, x), Q = P + (dy, dx)); returns true with ev filled.
inline bool eval_pair(const View& v, int y, int x, int dy, int dx, AAEvent& ev) {
    const float* rP = v.rast + ((int64_t)y * v.W + x) * 4;
    const float* rQ = v.rast + ((int64_t)(y + dy) * v.W + (x + dx)) * 4;
    if (rP[3] == rQ[3]) return false;
    return aa_pair(ProjectedVerts{v.pv}, v.faces, v.topo, v.V, v.F, rP[3], rQ[3], rP[2], rQ[2],
                   (float)x + 0.5f, (float)y + 0.5f, (float)(x + dx) + 0.5f, (float)(y + dy) + 0.5f, ev, v.sil);
}

}  // namespace

void antialias_fwd(const AntialiasArgs& a) {
    const int H = a.H, W = a.W, C = a.C;
    const int64_t rows = (int64_t)a.B * H;
    thread_local std::vector<ProjVert> pvs;
    thread_local std::vector<uint8_t> sils;
    prepare(a.pos, a.pos_batched ? a.B : 1, a.V, a.F, a.faces, a.topo, H, W, pvs, sils);
    const ProjVert* pv_all = pvs.data();
    const uint8_t* sil_all = sils.data();
    parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int b = (int)(r / H), y = (int)(r % H);
            View v{a.rast + (int64_t)b * H * W * 4, pv_all + (a.pos_batched ? (int64_t)b * a.V : 0),
                   a.faces, a.topo, sil_all + (a.pos_batched ? (int64_t)b * a.F : 0), a.V, a.F, H, W};
            const float* col = a.color + (int64_t)b * H * W * C;
            float* out = a.out + r * W * C;
            std::memcpy(out, a.color + r * W * C, sizeof(float) * (size_t)W * C);
            const float* rrow = v.rast + (int64_t)y * W * 4;
            const float* rup = y > 0 ? rrow - 4 * (int64_t)W : nullptr;
            const float* rdn = y + 1 < H ? rrow + 4 * (int64_t)W : nullptr;
            for (int x = 0; x < W; ++x) {
                const float id = rrow[4 * x + 3];
                // neighbours: (dy, dx, this pixel is P?)
                const bool l = x > 0 && rrow[4 * (x - 1) + 3] != id;
                const bool rt = x + 1 < W && rrow[4 * (x + 1) + 3] != id;
                const bool u = rup && rup[4 * x + 3] != id;
                const bool d = rdn && rdn[4 * x + 3] != id;
                if (!(l | rt | u | d)) continue;
                float* o = out + (int64_t)x * C;
                const float* cs = col + ((int64_t)y * W + x) * C;
                AAEvent ev;
                // pair list: (py, px, dy, dx, self index within pair)
                const int pairs[4][5] = {{y, x - 1, 0, 1, 1}, {y, x, 0, 1, 0}, {y - 1, x, 1, 0, 1}, {y, x, 1, 0, 0}};
                const bool act[4] = {l, rt, u, d};
                for (int p = 0; p < 4; ++p) {
                    if (!act[p]) continue;
                    if (!eval_pair(v, pairs[p][0], pairs[p][1], pairs[p][2], pairs[p][3], ev)) continue;
                    if (ev.target != pairs[p][4]) continue;
                    const int oy = pairs[p][4] ? pairs[p][0] : pairs[p][0] + pairs[p][2];
                    const int ox = pairs[p][4] ? pairs[p][1] : pairs[p][1] + pairs[p][3];
                    const float* co = col + ((int64_t)oy * W + ox) * C;
                    for (int c = 0; c < C; ++c) o[c] += ev.alpha * (co[c] - cs[c]);
                }
            }
        }
    });
}

void antialias_bwd(const AntialiasGradArgs& a) {
    const int H = a.H, W = a.W, C = a.C, V = a.V;
    const int64_t rows = (int64_t)a.B * H;
    const int64_t npos = (a.pos_batched ? (int64_t)a.B : 1) * V * 4;
    thread_local std::vector<ProjVert> pvs;
    thread_local std::vector<uint8_t> sils;
    prepare(a.pos, a.pos_batched ? a.B : 1, V, a.F, a.faces, a.topo, H, W, pvs, sils);
    const ProjVert* pv_all = pvs.data();
    const uint8_t* sil_all = sils.data();
    const int K = (int)std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1));
    PartBuffers buf;
    float* direct = nullptr;
    if (K == 1) { std::memset(a.grad_pos, 0, sizeof(float) * npos); direct = a.grad_pos; }
    else buf.init(K, npos);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            float* gbuf = direct ? direct : buf.part((int)k);
            int64_t lo, hi;
            split_range(rows, K, (int)k, lo, hi);
            for (int64_t r = lo; r < hi; ++r) {
                const int b = (int)(r / H), y = (int)(r % H);
                const int64_t poff = a.pos_batched ? (int64_t)b * V * 4 : 0;
                View v{a.rast + (int64_t)b * H * W * 4, pv_all + poff / 4, a.faces, a.topo,
                       sil_all + (a.pos_batched ? (int64_t)b * a.F : 0), V, a.F, H, W};
                const float* posb = a.pos + poff;
                float* gpos = gbuf + poff;
                const float* col = a.color + (int64_t)b * H * W * C;
                const float* gout = a.grad_out + (int64_t)b * H * W * C;
                float* gc = a.grad_color + r * W * C;
                std::memcpy(gc, a.grad_out + r * W * C, sizeof(float) * (size_t)W * C);
                const float* rrow = v.rast + (int64_t)y * W * 4;
                const float* rup = y > 0 ? rrow - 4 * (int64_t)W : nullptr;
                const float* rdn = y + 1 < H ? rrow + 4 * (int64_t)W : nullptr;
                for (int x = 0; x < W; ++x) {
                    const float id = rrow[4 * x + 3];
                    const bool l = x > 0 && rrow[4 * (x - 1) + 3] != id;
                    const bool rt = x + 1 < W && rrow[4 * (x + 1) + 3] != id;
                    const bool u = rup && rup[4 * x + 3] != id;
                    const bool d = rdn && rdn[4 * x + 3] != id;
                    if (!(l | rt | u | d)) continue;
                    float* g = gc + (int64_t)x * C;
                    const float* cs = col + ((int64_t)y * W + x) * C;
                    const float* gs = gout + ((int64_t)y * W + x) * C;
                    const int pairs[4][5] = {{y, x - 1, 0, 1, 1}, {y, x, 0, 1, 0}, {y - 1, x, 1, 0, 1}, {y, x, 1, 0, 0}};
                    const bool act[4] = {l, rt, u, d};
                    AAEvent ev;
                    for (int p = 0; p < 4; ++p) {
                        if (!act[p]) continue;
                        if (!eval_pair(v, pairs[p][0], pairs[p][1], pairs[p][2], pairs[p][3], ev)) continue;
                        const int self = pairs[p][4];
                        const int oy = self ? pairs[p][0] : pairs[p][0] + pairs[p][2];
                        const int ox = self ? pairs[p][1] : pairs[p][1] + pairs[p][3];
                        const float* co = col + ((int64_t)oy * W + ox) * C;
                        if (ev.target == self) {
                            // out[self] += alpha * (c_other - c_self)
                            float dot = 0.0f;
                            for (int c = 0; c < C; ++c) {
                                g[c] -= ev.alpha * gs[c];
                                // d alpha: dL/dalpha = g_self . (c_other - c_self)
                                dot += gs[c] * (co[c] - cs[c]);
                            }
                            if (dot != 0.0f) {
                                float gA[4], gB[4];
                                aa_pair_grad(posb + 4 * ev.va, posb + 4 * ev.vb, ev, dot, H, W, gA, gB);
                                for (int c = 0; c < 4; ++c) { gpos[4 * ev.va + c] += gA[c]; gpos[4 * ev.vb + c] += gB[c]; }
                            }
                        } else {
                            // self is the source for the other pixel's blend
                            const float* go = gout + ((int64_t)oy * W + ox) * C;
                            for (int c = 0; c < C; ++c) g[c] += ev.alpha * go[c];
                        }
                    }
                }
            }
        }
    });
    if (!direct) buf.reduce(a.grad_pos);
}

}  // namespace cpu
}  // namespace a3d
