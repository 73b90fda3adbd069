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
// per-row id array, only near covered pixels when rasterize's coverage spans
// are given (a pair with differing ids has a covered pixel). Silhouette bits are computed lazily, only for triangles that
// actually front an id change (cached per call and view).
#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <vector>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"
#include "simd_cpu.h"

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

// Ids of columns [x0, x1) of one image row into buf[x0, x1).
inline void load_ids(const float* rrow, int x0, int x1, float* buf) {
    int x = x0;
#if defined(__SSE2__)
    for (; x + 4 <= x1; x += 4) {   // channel 3 of 4 pixels: two shuffles of 4 loads
        const float* r = rrow + 4 * x;
        const __m128 ab = _mm_shuffle_ps(_mm_loadu_ps(r), _mm_loadu_ps(r + 4), _MM_SHUFFLE(3, 3, 3, 3));
        const __m128 cd = _mm_shuffle_ps(_mm_loadu_ps(r + 8), _mm_loadu_ps(r + 12), _MM_SHUFFLE(3, 3, 3, 3));
        _mm_storeu_ps(buf + x, _mm_shuffle_ps(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)));
    }
#endif
    for (; x < x1; ++x) buf[x] = rrow[4 * x + 3];
}

// Calls f(x) for every x in [0, n) with a[x] != b[x] (float compare: NaN differs).
// Reads a[0, n + 3), b[0, n + 3) (the excess is masked).
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

// Union (as one range) of two spans; empty when both are.
inline void span_union(int a0, int a1, int b0, int b1, int& x0, int& x1) {
    if (a0 >= a1) { x0 = b0; x1 = b1; return; }
    if (b0 >= b1) { x0 = a0; x1 = a1; return; }
    x0 = std::min(a0, b0); x1 = std::max(a1, b1);
}

// Row-block driver. Calls pair(view_index, y, x, dy, dx, writeP, writeQ, own)
// for every pair with differing ids that touches rows [r0, r1) (global rows
// b * H + y): own = the pair belongs to this block (its P row is inside);
// writeP / writeQ = that pixel's row is inside the block. A pair with
// differing ids has a covered pixel, so only pairs touching a span are tested.
struct RowScratch {
    std::vector<float> a, b;
    void ensure(int W) {
        if ((int)a.size() < W + 8) { a.resize(W + 8); b.resize(W + 8); }
    }
};

template <class Pair>
inline void process_rows(const float* rast_all, const int32_t* spans, int H, int W, int64_t r0, int64_t r1,
                         const Pair& pair) {
    thread_local RowScratch scratch;
    scratch.ensure(W);
    float* ra = scratch.a.data();
    float* rb = scratch.b.data();
    // vertical pairs between global rows r - 1 (P) and r (Q) of view b
    auto vertical = [&](int b, int y, int64_t r, bool wP, bool wQ, bool own) {
        const float* vr = rast_all + (int64_t)b * H * W * 4;
        int p0, p1, q0, q1, x0, x1;
        row_span(spans, r - 1, W, p0, p1);
        row_span(spans, r, W, q0, q1);
        span_union(p0, p1, q0, q1, x0, x1);
        if (x0 >= x1) return;
        load_ids(vr + (int64_t)(y - 1) * W * 4, x0, x1, ra);
        load_ids(vr + (int64_t)y * W * 4, x0, x1, rb);
        for_each_diff(ra + x0, rb + x0, x1 - x0, [&](int k) { pair(b, y - 1, x0 + k, 1, 0, wP, wQ, own); });
    };
    for (int64_t r = r0; r < r1; ++r) {
        const int b = (int)(r / H), y = (int)(r % H);
        const float* vr = rast_all + (int64_t)b * H * W * 4;
        // pairs straddling the block's top edge: only the write to row y is ours
        if (r == r0 && y > 0) vertical(b, y, r, false, true, false);
        // horizontal pairs (x, x + 1) with a pixel in the span
        int s0, s1;
        row_span(spans, r, W, s0, s1);
        if (s0 < s1) {
            const int x0 = std::max(0, s0 - 1), x1 = std::min(W - 1, s1);   // pairs x in [x0, x1)
            if (x0 < x1) {
                load_ids(vr + (int64_t)y * W * 4, x0, x1 + 1, ra);
                for_each_diff(ra + x0, ra + x0 + 1, x1 - x0, [&](int k) { pair(b, y, x0 + k, 0, 1, true, true, true); });
            }
        }
        // vertical pairs (y, y + 1)
        if (y + 1 < H) vertical(b, y + 1, r + 1, true, r + 1 < r1, true);
    }
}

// Records an event (forward: for the backward).
inline AAEventRec make_rec(const AAEvent& ev, int64_t pP, int64_t pQ, int view) {
    AAEventRec r;
    r.t = ev.target ? pQ : pP;
    r.s = ev.target ? pP : pQ;
    r.alpha = ev.alpha; r.sign_t = ev.sign_t; r.eF = ev.eF; r.eO = ev.eO;
    r.fpx = ev.fpx; r.fpy = ev.fpy; r.opx = ev.opx; r.opy = ev.opy;
    r.va = ev.va; r.vb = ev.vb; r.view = view; r.pad = 0;
    return r;
}

}  // namespace

// out = color, then the blends. Each block of rows first copies its rows
// (streaming stores for large outputs), then evaluates its pairs and applies
// the writes to its own rows; with `events`, every blend is recorded once (by
// the block that owns the pair) and the blocks' lists are concatenated in
// block order. a.out == nullptr: record only (the backward of the custom op).
void antialias_fwd(const AntialiasArgs& a, std::vector<AAEventRec>* events) {
    const int H = a.H, W = a.W, C = a.C;
    const int64_t rows = (int64_t)a.B * H;
    thread_local std::vector<ProjVert> pvs;
    thread_local std::vector<uint8_t> sils;
    prepare(a.pos, a.pos_batched ? a.B : 1, a.V, a.F, H, W, pvs, sils);
    ProjVert* pv_all = pvs.data();
    uint8_t* sil_all = sils.data();
    constexpr int64_t kBlockRows = 32;
    const int64_t nblocks = (rows + kBlockRows - 1) / kBlockRows;
    std::vector<std::vector<AAEventRec>> recs(events ? (size_t)nblocks : 0);
    // per view, built once (not per pixel pair: most pairs are rejected after a few loads)
    std::vector<View> views((size_t)a.B);
    for (int b = 0; b < a.B; ++b)
        views[(size_t)b] = View{a.rast + (int64_t)b * H * W * 4, pv_all + (a.pos_batched ? (int64_t)b * a.V : 0),
                                a.faces, a.topo, sil_all + (a.pos_batched ? (int64_t)b * a.F : 0), a.V, a.F, H, W};
    const bool stream = a.out != nullptr && want_stream(rows * W * C * (int64_t)sizeof(float), a.out);
    const bool stream_zero = stream || want_stream_zero(rows * W * C * (int64_t)sizeof(float));
    parallel_tasks(nblocks, [&](int64_t k) {
        const int64_t r0 = k * kBlockRows, r1 = std::min(rows, (k + 1) * kBlockRows);
        if (a.out && a.spans && a.color_zero_outside) {
            // color is 0 outside the spans: write zeros there without reading it
            for (int64_t r = r0; r < r1; ++r) {
                int x0, x1;
                row_span(a.spans, r, W, x0, x1);
                float* o = a.out + r * W * C;
                zero_floats(o, (int64_t)x0 * C, stream_zero);
                copy_floats(o + (int64_t)x0 * C, a.color + (r * W + x0) * C, (int64_t)(x1 - x0) * C, stream);
                zero_floats(o + (int64_t)x1 * C, (int64_t)(W - x1) * C, stream_zero);
            }
            stream_fence(stream_zero);
        } else if (a.out) {
            copy_floats(a.out + r0 * W * C, a.color + r0 * W * C, (r1 - r0) * W * C, stream);
            stream_fence(stream);
        }
        std::vector<AAEventRec>* rec = events ? &recs[(size_t)k] : nullptr;
        auto pair = [&](int b, int y, int x, int dy, int dx, bool wP, bool wQ, bool own) {
            const View& v = views[(size_t)b];
            AAEvent ev{};
            if (!eval_pair(v, y, x, dy, dx, ev)) return;
            const int64_t pP = ((int64_t)b * H + y) * W + x;
            const int64_t pQ = ((int64_t)b * H + y + dy) * W + x + dx;
            if (own && rec) rec->push_back(make_rec(ev, pP, pQ, a.pos_batched ? b : 0));
            if (!a.out || !(ev.target ? wQ : wP)) return;
            const int64_t t = ev.target ? pQ : pP, s = ev.target ? pP : pQ;
            float* o = a.out + t * C;
            const float* cs = a.color + t * C;
            const float* co = a.color + s * C;
            for (int c = 0; c < C; ++c) o[c] += ev.alpha * (co[c] - cs[c]);
        };
        process_rows(a.rast, a.spans, H, W, r0, r1, pair);
    }, [&] {   // the pairs look up their triangles' faces and neighbours at random
        prefetch_array(a.faces, sizeof(int32_t) * 3 * (size_t)a.F);
        prefetch_array(a.topo, sizeof(int32_t) * 3 * (size_t)a.F);
    });
    if (events) {
        size_t n = 0;
        for (const auto& r : recs) n += r.size();
        events->clear();
        events->reserve(n);
        for (const auto& r : recs) events->insert(events->end(), r.begin(), r.end());
    }
}

// grad_color = grad_out + the blends' terms; grad_pos from the blends'
// alphas. The events are few (silhouette pixels only): applied serially, in
// order (deterministic, no partial buffers).
void antialias_bwd_events(const AntialiasEventGradArgs& a) {
    const int H = a.H, W = a.W, C = a.C, V = a.V;
    if (a.grad_color) {
        const int64_t n = (int64_t)a.B * H * W * C;
        const bool stream = want_stream(n * (int64_t)sizeof(float), a.grad_color);
        constexpr int64_t kChunk = int64_t(1) << 16;   // floats per task (multiple of 16)
        parallel_for(0, (n + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
            const int64_t lo = c0 * kChunk, hi = std::min(n, c1 * kChunk);
            copy_floats(a.grad_color + lo, a.grad_out + lo, hi - lo, stream);
            stream_fence(stream);
        });
    }
    if (a.grad_pos) std::memset(a.grad_pos, 0, sizeof(float) * (size_t)((a.pos_batched ? a.B : 1) * (int64_t)V * 4));
    constexpr int64_t kAhead = 8;   // events scatter over the image: fetch their pixels ahead
    for (int64_t i = 0; i < a.n; ++i) {
        if (a.grad_pos && i + kAhead < a.n) {
            const AAEventRec& q = a.events[i + kAhead];
            __builtin_prefetch(a.grad_out + q.t * C);
            __builtin_prefetch(a.color + q.t * C);
            __builtin_prefetch(a.color + q.s * C);
        }
        const AAEventRec& r = a.events[i];
        const float* gt = a.grad_out + r.t * C;   // upstream gradient of the target pixel
        if (a.grad_color) {   // out[t] = c_t + alpha * (c_s - c_t)
            float* g = a.grad_color + r.t * C;
            for (int c = 0; c < C; ++c) g[c] -= r.alpha * gt[c];
            g = a.grad_color + r.s * C;
            for (int c = 0; c < C; ++c) g[c] += r.alpha * gt[c];
        }
        if (a.grad_pos) {     // dL/dalpha = g_t . (c_s - c_t)
            const float* cs = a.color + r.t * C;
            const float* co = a.color + r.s * C;
            float dot = 0.0f;
            for (int c = 0; c < C; ++c) dot += gt[c] * (co[c] - cs[c]);
            if (dot == 0.0f) continue;
            AAEvent ev{};
            ev.sign_t = r.sign_t; ev.eF = r.eF; ev.eO = r.eO;
            ev.fpx = r.fpx; ev.fpy = r.fpy; ev.opx = r.opx; ev.opy = r.opy;
            const int64_t poff = (int64_t)r.view * V * 4;
            const float* posb = a.pos + poff;
            float* gpos = a.grad_pos + poff;
            float gA[4], gB[4];
            aa_pair_grad(posb + 4 * r.va, posb + 4 * r.vb, ev, dot, H, W, gA, gB);
            for (int c = 0; c < 4; ++c) { gpos[4 * r.va + c] += gA[c]; gpos[4 * r.vb + c] += gB[c]; }
        }
    }
}

// The colour gradient as overrides of grad_out (see GradOverrides): the pixels the
// blends touch, each with grad_out plus the blends' terms (the same operations in
// the same order as antialias_bwd_events, so bitwise the same values); grad_pos as
// there when a.grad_pos (a.grad_color must be nullptr).
void antialias_grad_overrides(const AntialiasEventGradArgs& a, std::vector<int64_t>& pix, std::vector<float>& val) {
    const int C = a.C;
    pix.clear();
    pix.reserve(2 * (size_t)a.n);
    for (int64_t i = 0; i < a.n; ++i) {
        pix.push_back(a.events[i].t);
        pix.push_back(a.events[i].s);
    }
    std::sort(pix.begin(), pix.end());
    pix.erase(std::unique(pix.begin(), pix.end()), pix.end());
    val.resize(pix.size() * (size_t)C);
    // the upstream gradient is cold (the step's other images evicted it): ask for lines ahead
    constexpr size_t kAhead = 16;
    for (size_t k = 0; k < pix.size(); ++k) {
        if (k + kAhead < pix.size()) __builtin_prefetch(a.grad_out + pix[k + kAhead] * C);
        std::memcpy(&val[k * C], a.grad_out + pix[k] * C, sizeof(float) * C);
    }
    auto slot = [&](int64_t p) {
        return &val[(size_t)(std::lower_bound(pix.begin(), pix.end(), p) - pix.begin()) * C];
    };
    for (int64_t i = 0; i < a.n; ++i) {   // out[t] = c_t + alpha * (c_s - c_t)
        const AAEventRec& r = a.events[i];
        const float* gt = a.grad_out + r.t * C;
        float* g = slot(r.t);
        for (int c = 0; c < C; ++c) g[c] -= r.alpha * gt[c];
        g = slot(r.s);
        for (int c = 0; c < C; ++c) g[c] += r.alpha * gt[c];
    }
    if (a.grad_pos) antialias_bwd_events(a);
}

// The custom op's backward (no recorded events): record them, then as above.
void antialias_bwd(const AntialiasGradArgs& a) {
    AntialiasArgs f{a.color, a.rast, a.pos, a.faces, a.topo, nullptr, a.B, a.V, a.F, a.H, a.W, a.C, a.pos_batched,
                    nullptr, 0};
    thread_local std::vector<AAEventRec> events;
    antialias_fwd(f, &events);
    AntialiasEventGradArgs g{a.color, a.pos, events.data(), (int64_t)events.size(), a.grad_out, a.grad_color,
                             a.grad_pos, a.B, a.V, a.H, a.W, a.C, a.pos_batched};
    antialias_bwd_events(g);
}

}  // namespace cpu
}  // namespace a3d
