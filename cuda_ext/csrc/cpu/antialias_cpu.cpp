// Analytic edge antialiasing (forward + backward) on the CPU.
//
// For each horizontally / vertically adjacent pixel pair whose triangle ids
// differ, aa_pair() (common/raster_math.h) finds the silhouette edge of the
// front triangle crossing the segment between the two pixel centres and a blend
// weight alpha; exactly one pixel of the pair (the "target") receives
// alpha * (colour of the other pixel - its own colour).
//
// Work is split into contiguous blocks of image rows. Every pair is evaluated
// once by the block that owns its upper / left pixel; the vertical pair that
// straddles a block's top boundary is evaluated again by the lower block, which
// applies only the writes to its own row (no write races, no position-gradient
// double counting). Id changes are found with 4-wide compares on a compact
// per-row id array, so the uniform (mostly empty) parts of the image cost
// almost nothing. Silhouette bits are computed lazily, only for triangles that
// actually front an id change (cached per call and view).
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <vector>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"

namespace a3d {
namespace cpu {
namespace {

constexpr uint8_t kSilUnknown = 0xFF;

struct View {
    const float* rast;     // [H, W, 4] of this view
    const ProjVert* pv;    // projected vertices of this view
    const int32_t* faces;
    const int32_t* topo;
    uint8_t* sil;          // lazily filled silhouette bits per triangle (kSilUnknown: not yet)
    int V, F, H, W;
};

// Project every vertex once per call (nviews = pos_batched ? B : 1) and reset
// the lazy silhouette cache.
inline void prepare(const float* pos, int nviews, int V, int F, int H, int W, std::vector<ProjVert>& pvs,
                    std::vector<uint8_t>& sil) {
    const int64_t n = (int64_t)nviews * V;
    pvs.resize((size_t)n);
    sil.assign((size_t)nviews * F, kSilUnknown);
    ProjVert* o = pvs.data();
    parallel_for(0, n, 8192, [&](int64_t v0, int64_t v1) {
        for (int64_t v = v0; v < v1; ++v) project_vertex(pos + 4 * v, H, W, o[v]);
    });
}

inline unsigned sil_of(const View& v, int tri) {
    uint8_t s = __atomic_load_n(v.sil + tri, __ATOMIC_RELAXED);
    if (s == kSilUnknown) {
        s = (uint8_t)silhouette_bits(ProjectedVerts{v.pv}, v.faces, v.topo, v.V, tri);
        __atomic_store_n(v.sil + tri, s, __ATOMIC_RELAXED);
    }
    return s;
}

// Evaluate the pair P = (y, x), Q = (y + dy, x + dx) (ids known to differ).
// The front triangle is found first (same rule as aa_pair) so that most pairs
// (no silhouette edge on the front triangle) are rejected after one byte load.
inline bool eval_pair(const View& v, int y, int x, int dy, int dx, AAEvent& ev) {
    const float* rP = v.rast + ((int64_t)y * v.W + x) * 4;
    const float* rQ = v.rast + ((int64_t)(y + dy) * v.W + (x + dx)) * 4;
    const float Ff = (float)v.F;
    const float iP = (rP[3] >= 0.0f && rP[3] <= Ff) ? rP[3] : 0.0f;
    const float iQ = (rQ[3] >= 0.0f && rQ[3] <= Ff) ? rQ[3] : 0.0f;
    const int tP = (int)iP - 1, tQ = (int)iQ - 1;
    if (tP == tQ) return false;
    int tri;
    if (tQ < 0) tri = tP;
    else if (tP < 0) tri = tQ;
    else if (rP[2] < rQ[2]) tri = tP;
    else if (rQ[2] < rP[2]) tri = tQ;
    else tri = tP < tQ ? tP : tQ;
    if (tri < 0 || sil_of(v, tri) == 0u) return false;
    return aa_pair(ProjectedVerts{v.pv}, v.faces, v.topo, v.V, v.F, rP[3], rQ[3], rP[2], rQ[2],
                   (float)x + 0.5f, (float)y + 0.5f, (float)(x + dx) + 0.5f, (float)(y + dy) + 0.5f, ev, v.sil);
}

// Ids of one image row, padded: buf[W .. W + 7] = buf[W - 1].
inline void load_ids(const float* rrow, int W, float* buf) {
    for (int x = 0; x < W; ++x) buf[x] = rrow[4 * x + 3];
    for (int x = W; x < W + 8; ++x) buf[x] = buf[W - 1];
}

// Calls f(x) for every x in [0, n) with a[x] != b[x] (float compare: NaN differs).
template <class Fn>
inline void for_each_diff(const float* a, const float* b, int n, const Fn& f) {
#if defined(__SSE2__)
    for (int x = 0; x < n; x += 4) {
        unsigned m = (unsigned)_mm_movemask_ps(_mm_cmpneq_ps(_mm_loadu_ps(a + x), _mm_loadu_ps(b + x)));
        if (m == 0u) continue;
        if (x + 4 > n) m &= (1u << (n - x)) - 1u;
        while (m) {
            const int k = __builtin_ctz(m);
            m &= m - 1u;
            f(x + k);
        }
    }
#else
    for (int x = 0; x < n; ++x)
        if (a[x] != b[x]) f(x);
#endif
}

// Row-block driver. Calls pair(view_index, y, x, dy, dx, writeP, writeQ, own)
// for every pair with differing ids that touches rows [r0, r1) (global rows
// b * H + y): own = the pair belongs to this block (its P row is inside);
// writeP / writeQ = that pixel's row is inside the block. init(r) is called
// for every row of the block, in order, before any pair writes to it.
struct RowScratch {
    std::vector<float> a, b, c;
    void ensure(int W) {
        if ((int)a.size() < W + 8) { a.resize(W + 8); b.resize(W + 8); c.resize(W + 8); }
    }
};

template <class Init, class Pair>
inline void process_rows(const float* rast_all, int H, int W, int64_t r0, int64_t r1, const Init& init,
                         const Pair& pair) {
    thread_local RowScratch scratch;
    scratch.ensure(W);
    float* cur = scratch.a.data();
    float* nxt = scratch.b.data();
    float* tmp = scratch.c.data();
    int64_t copied = r0, cur_row = -1;
    auto ensure_init = [&](int64_t r) { while (copied <= r) init(copied++); };
    for (int64_t r = r0; r < r1; ++r) {
        const int b = (int)(r / H), y = (int)(r % H);
        const float* vr = rast_all + (int64_t)b * H * W * 4;
        ensure_init(r);
        if (cur_row != r) { load_ids(vr + (int64_t)y * W * 4, W, cur); cur_row = r; }
        if (r == r0 && y > 0) {
            // pairs straddling the block's top edge: only the write to row y is ours
            load_ids(vr + (int64_t)(y - 1) * W * 4, W, tmp);
            for_each_diff(tmp, cur, W, [&](int x) { pair(b, y - 1, x, 1, 0, false, true, false); });
        }
        // horizontal pairs (x, x + 1); the padding makes x = W - 1 compare equal
        for_each_diff(cur, cur + 1, W, [&](int x) { pair(b, y, x, 0, 1, true, true, true); });
        if (y + 1 < H) {
            const bool inside = r + 1 < r1;
            if (inside) ensure_init(r + 1);
            load_ids(vr + (int64_t)(y + 1) * W * 4, W, nxt);
            for_each_diff(cur, nxt, W, [&](int x) { pair(b, y, x, 1, 0, true, inside, true); });
            float* t = cur; cur = nxt; nxt = t;
            cur_row = r + 1;
        }
    }
}

}  // namespace

void antialias_fwd(const AntialiasArgs& a) {
    const int H = a.H, W = a.W, C = a.C;
    const int64_t rows = (int64_t)a.B * H;
    thread_local std::vector<ProjVert> pvs;
    thread_local std::vector<uint8_t> sils;
    prepare(a.pos, a.pos_batched ? a.B : 1, a.V, a.F, H, W, pvs, sils);
    ProjVert* pv_all = pvs.data();
    uint8_t* sil_all = sils.data();
    constexpr int64_t kBlockRows = 32;
    const int64_t nblocks = (rows + kBlockRows - 1) / kBlockRows;
    parallel_tasks(nblocks, [&](int64_t k) {
        const int64_t r0 = k * kBlockRows, r1 = std::min(rows, (k + 1) * kBlockRows);
        auto init = [&](int64_t r) {
            std::memcpy(a.out + r * W * C, a.color + r * W * C, sizeof(float) * (size_t)W * C);
        };
        auto pair = [&](int b, int y, int x, int dy, int dx, bool wP, bool wQ, bool) {
            View v{a.rast + (int64_t)b * H * W * 4, pv_all + (a.pos_batched ? (int64_t)b * a.V : 0), a.faces,
                   a.topo, sil_all + (a.pos_batched ? (int64_t)b * a.F : 0), a.V, a.F, H, W};
            AAEvent ev;
            if (!eval_pair(v, y, x, dy, dx, ev)) return;
            if (!(ev.target ? wQ : wP)) return;
            const int64_t pP = ((int64_t)b * H + y) * W + x;
            const int64_t pQ = ((int64_t)b * H + y + dy) * W + x + dx;
            const int64_t t = ev.target ? pQ : pP, s = ev.target ? pP : pQ;
            float* o = a.out + t * C;
            const float* cs = a.color + t * C;
            const float* co = a.color + s * C;
            for (int c = 0; c < C; ++c) o[c] += ev.alpha * (co[c] - cs[c]);
        };
        process_rows(a.rast, H, W, r0, r1, init, pair);
    });
}

void antialias_bwd(const AntialiasGradArgs& a) {
    const int H = a.H, W = a.W, C = a.C, V = a.V;
    const int64_t rows = (int64_t)a.B * H;
    const int64_t npos = (a.pos_batched ? (int64_t)a.B : 1) * V * 4;
    thread_local std::vector<ProjVert> pvs;
    thread_local std::vector<uint8_t> sils;
    prepare(a.pos, a.pos_batched ? a.B : 1, V, a.F, H, W, pvs, sils);
    ProjVert* pv_all = pvs.data();
    uint8_t* sil_all = sils.data();
    const int K = (int)std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1));
    thread_local PartBuffers tl_buf;   // reused across calls (no fresh pages per call)
    PartBuffers& buf = tl_buf;        // the caller's instance (workers must not name tl_buf)
    float* direct = nullptr;
    if (K == 1) { std::memset(a.grad_pos, 0, sizeof(float) * npos); direct = a.grad_pos; }
    else buf.init(K, npos);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            float* gbuf = direct ? direct : buf.part((int)k);
            int64_t lo, hi;
            split_range(rows, K, (int)k, lo, hi);
            auto init = [&](int64_t r) {
                std::memcpy(a.grad_color + r * W * C, a.grad_out + r * W * C, sizeof(float) * (size_t)W * C);
            };
            auto pair = [&](int b, int y, int x, int dy, int dx, bool wP, bool wQ, bool own) {
                const int64_t poff = a.pos_batched ? (int64_t)b * V * 4 : 0;
                View v{a.rast + (int64_t)b * H * W * 4, pv_all + poff / 4, a.faces, a.topo,
                       sil_all + (a.pos_batched ? (int64_t)b * a.F : 0), V, a.F, H, W};
                AAEvent ev;
                if (!eval_pair(v, y, x, dy, dx, ev)) return;
                const int64_t pP = ((int64_t)b * H + y) * W + x;
                const int64_t pQ = ((int64_t)b * H + y + dy) * W + x + dx;
                const int64_t t = ev.target ? pQ : pP, s = ev.target ? pP : pQ;
                const bool wT = ev.target ? wQ : wP, wS = ev.target ? wP : wQ;
                const float* gt = a.grad_out + t * C;   // upstream gradient of the target pixel
                if (wT) {   // out[t] = c_t + alpha * (c_s - c_t)
                    float* g = a.grad_color + t * C;
                    for (int c = 0; c < C; ++c) g[c] -= ev.alpha * gt[c];
                }
                if (wS) {
                    float* g = a.grad_color + s * C;
                    for (int c = 0; c < C; ++c) g[c] += ev.alpha * gt[c];
                }
                if (own) {  // dL/dalpha = g_t . (c_s - c_t)
                    const float* cs = a.color + t * C;
                    const float* co = a.color + s * C;
                    float dot = 0.0f;
                    for (int c = 0; c < C; ++c) dot += gt[c] * (co[c] - cs[c]);
                    if (dot != 0.0f) {
                        const float* posb = a.pos + poff;
                        float* gpos = gbuf + poff;
                        float gA[4], gB[4];
                        aa_pair_grad(posb + 4 * ev.va, posb + 4 * ev.vb, ev, dot, H, W, gA, gB);
                        for (int c = 0; c < 4; ++c) { gpos[4 * ev.va + c] += gA[c]; gpos[4 * ev.vb + c] += gB[c]; }
                    }
                }
            };
            process_rows(a.rast, H, W, lo, hi, init, pair);
        }
    });
    if (!direct) buf.reduce(a.grad_pos);
}

}  // namespace cpu
}  // namespace a3d
