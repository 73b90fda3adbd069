// Interpolate vertex attributes with the rasteriser's perspective-correct
// barycentrics (forward + sparse backward) on the CPU.
//
// Both passes walk the image in groups of 4 pixels and skip groups without a
// covered pixel after one test of their id bits (most of a typical image) --
// with rasterize's coverage spans, the empty parts of rows are not even read --
// and are compiled for the common channel counts, so the per-pixel channel
// loops unroll, 4 channels per vector operation for 4 and 8 channels.
#include <algorithm>
#include <cstring>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"
#include "simd_cpu.h"

namespace a3d {
namespace cpu {
namespace {

inline bool pixel_face(const float* r, const int32_t* faces, int F, int V, const int32_t*& fv) {
    const float id = r[3];
    if (!(id > 0.0f)) return false;
    const int f = (int)id - 1;
    if (f < 0 || f >= F) return false;
    fv = faces + 3 * (int64_t)f;
    return face_in_range(fv, V);
}

// The channel loops, 4 channels per vector operation when C is a multiple of 4 (GCC leaves
// them scalar: it cannot rule out that the output aliases the attributes). Every lane does
// the scalar loop's operations in the same order, so results are bitwise the same.
template <int CC>
inline void blend(float* o, const float* a0, const float* a1, const float* a2, float w0, float u, float v, int C) {
    if (CC > 0 && CC % 4 == 0) {
        const v4f W = splat4(w0), U = splat4(u), Vv = splat4(v);
        for (int c = 0; c < CC; c += 4) store4(o + c, load4(a0 + c) * W + load4(a1 + c) * U + load4(a2 + c) * Vv);
        return;
    }
    for (int c = 0; c < C; ++c) o[c] = a0[c] * w0 + a1[c] * u + a2[c] * v;
}

// g0 += gx * w0, g1 += gx * u, g2 += gx * v (in that order per channel: a repeated vertex
// accumulates as in the scalar loop).
template <int CC>
inline void scatter(float* g0, float* g1, float* g2, const float* gx, float w0, float u, float v, int C) {
    if (CC > 0 && CC % 4 == 0) {
        const v4f W = splat4(w0), U = splat4(u), Vv = splat4(v);
        for (int c = 0; c < CC; c += 4) {
            const v4f g = load4(gx + c);
            store4(g0 + c, load4(g0 + c) + g * W);
            store4(g1 + c, load4(g1 + c) + g * U);
            store4(g2 + c, load4(g2 + c) + g * Vv);
        }
        return;
    }
    for (int c = 0; c < C; ++c) {
        const float gc = gx[c];
        g0[c] += gc * w0; g1[c] += gc * u; g2[c] += gc * v;
    }
}

// (sum_c gx[c] (a1[c] - a0[c]), sum_c gx[c] (a2[c] - a0[c])), summed in channel order.
template <int CC>
inline void dot_diff(const float* gx, const float* a0, const float* a1, const float* a2, int C, float& gu, float& gv) {
    gu = 0.0f; gv = 0.0f;
    if (CC > 0 && CC % 4 == 0) {
        for (int c = 0; c < CC; c += 4) {
            const v4f g = load4(gx + c), b = load4(a0 + c);
            const v4f pu = g * (load4(a1 + c) - b), pv = g * (load4(a2 + c) - b);
            for (int k = 0; k < 4; ++k) { gu += pu[k]; gv += pv[k]; }
        }
        return;
    }
    for (int c = 0; c < C; ++c) {
        const float gc = gx[c];
        gu += gc * (a1[c] - a0[c]);
        gv += gc * (a2[c] - a0[c]);
    }
}

// True when the id channel of 4 consecutive rast pixels is +0 (all empty).
inline bool empty4(const float* r) {
    uint32_t a, b, c, d;
    std::memcpy(&a, r + 3, 4); std::memcpy(&b, r + 7, 4);
    std::memcpy(&c, r + 11, 4); std::memcpy(&d, r + 15, 4);
    return (a | b | c | d) == 0u;
}

// CC > 0: the channel count, known at compile time; CC == 0: a.C at run time.
template <int CC>
void interpolate_fwd_impl(const InterpolateArgs& a) {
    const int H = a.H, W = a.W, C = CC > 0 ? CC : a.C, V = a.V;
    const int64_t rows = (int64_t)a.B * H;
    const bool sz = want_stream_zero(rows * W * C * (int64_t)sizeof(float));
    const size_t attr_bytes = sizeof(float) * (size_t)(a.attr_batched ? a.B : 1) * V * C;
    parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
        prefetch_array(a.faces, sizeof(int32_t) * 3 * (size_t)a.F);
        prefetch_array(a.attr, attr_bytes);
        for (int64_t r = r0; r < r1; ++r) {
            const int b = (int)(r / H);
            const float* ab = a.attr + (a.attr_batched ? (int64_t)b * V * C : 0);
            const float* rr = a.rast + r * W * 4;
            float* orow = a.out + r * W * C;
            int xa, xb;
            row_span(a.spans, r, W, xa, xb);
            // outside the span: zeros without reading rast
            zero_floats(orow, (int64_t)xa * C, sz);
            zero_floats(orow + (int64_t)xb * C, (int64_t)(W - xb) * C, sz);
            for (int x = xa; x < xb; ++x) {
                float* o = orow + (int64_t)x * C;
                if (x + 4 <= xb && empty4(rr + 4 * x)) {
                    std::memset(o, 0, sizeof(float) * 4 * C);
                    x += 3;
                    continue;
                }
                const int32_t* fv;
                if (!pixel_face(rr + 4 * x, a.faces, a.F, V, fv)) {
                    for (int c = 0; c < C; ++c) o[c] = 0.0f;
                    continue;
                }
                const float u = rr[4 * x], v = rr[4 * x + 1], w0 = 1.0f - u - v;
                const float* a0 = ab + (int64_t)fv[0] * C;
                const float* a1 = ab + (int64_t)fv[1] * C;
                const float* a2 = ab + (int64_t)fv[2] * C;
                blend<CC>(o, a0, a1, a2, w0, u, v, C);
            }
        }
        stream_fence(sz);
    });
}

// SKIP_ATTR: grad_attr not wanted; a.grad_rast == nullptr: grad_rast not wanted.
template <int CC, bool SKIP_ATTR>
void interpolate_bwd_impl(const InterpolateGradArgs& a) {
    const int H = a.H, W = a.W, C = CC > 0 ? CC : a.C, V = a.V;
    const int64_t rows = (int64_t)a.B * H;
    const int64_t nattr = (a.attr_batched ? (int64_t)a.B : 1) * V * C;
    const int K = SKIP_ATTR ? 1 : (int)std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1));
    thread_local PartBuffers tl_buf;   // reused across calls (no fresh pages per call)
    PartBuffers& buf = tl_buf;        // the caller's instance (workers must not name tl_buf)
    float* direct = nullptr;
    if (!SKIP_ATTR) {
        if (K == 1) { std::memset(a.grad_attr, 0, sizeof(float) * nattr); direct = a.grad_attr; }
        else buf.init(K, nattr);
    }
    const bool sz = want_stream_zero(rows * W * 4 * (int64_t)sizeof(float));
    const size_t attr_bytes = sizeof(float) * (size_t)nattr;
    auto run_rows = [&](float* g, int64_t lo, int64_t hi) {
        prefetch_array(a.faces, sizeof(int32_t) * 3 * (size_t)a.F);
        prefetch_array(a.attr, attr_bytes);
        for (int64_t r = lo; r < hi; ++r) {
            const int b = (int)(r / H);
            const int64_t aoff = a.attr_batched ? (int64_t)b * V * C : 0;
            const float* ab = a.attr + aoff;
            float* gb = SKIP_ATTR ? nullptr : g + aoff;
            const float* rr = a.rast + r * W * 4;
            const float* go = a.grad_out + r * W * C;
            float* gr = a.grad_rast ? a.grad_rast + r * W * 4 : nullptr;
            int xa, xb;
            row_span(a.spans, r, W, xa, xb);
            // next override at or after this row's first pixel (see InterpolateGradArgs)
            const int64_t* op = a.override_pix;
            const int64_t* oe = op + (op ? a.override_n : 0);
            if (op) op = std::lower_bound(op, oe, r * W + xa);
            if (gr && !(a.grad_rast_in_spans && a.spans)) {
                zero_floats(gr, 4 * (int64_t)xa, sz);
                zero_floats(gr + 4 * (int64_t)xb, 4 * (int64_t)(W - xb), sz);
            }
            int x = xa;
            while (x < xb) {
                if (x + 4 <= xb && empty4(rr + 4 * x)) {
                    if (gr) std::memset(gr + 4 * x, 0, sizeof(float) * 16);
                    x += 4;
                    continue;
                }
                const int xe = x + 4 <= xb ? x + 4 : xb;
                for (; x < xe; ++x) {
                    float* gp = gr ? gr + 4 * x : nullptr;
                    if (gp) gp[0] = gp[1] = gp[2] = gp[3] = 0.0f;
                    const int32_t* fv;
                    if (!pixel_face(rr + 4 * x, a.faces, a.F, V, fv)) continue;
                    const float u = rr[4 * x], v = rr[4 * x + 1], w0 = 1.0f - u - v;
                    const float* a0 = ab + (int64_t)fv[0] * C;
                    const float* a1 = ab + (int64_t)fv[1] * C;
                    const float* a2 = ab + (int64_t)fv[2] * C;
                    const float* gx = go + (int64_t)x * C;
                    if (op != oe) {
                        while (op != oe && *op < r * W + x) ++op;
                        if (op != oe && *op == r * W + x) gx = a.override_val + (op - a.override_pix) * C;
                    }
                    if (!SKIP_ATTR)
                        scatter<CC>(gb + (int64_t)fv[0] * C, gb + (int64_t)fv[1] * C, gb + (int64_t)fv[2] * C, gx, w0, u,
                                    v, C);
                    if (gp) dot_diff<CC>(gx, a0, a1, a2, C, gp[0], gp[1]);
                }
            }
        }
        stream_fence(sz);
    };
    if (SKIP_ATTR) {   // rows are independent: plain row-parallel
        parallel_for(0, rows, 8, [&](int64_t lo, int64_t hi) { run_rows(nullptr, lo, hi); });
        return;
    }
    thread_local std::vector<int64_t> tl_bounds;
    std::vector<int64_t>& bounds = tl_bounds;   // the caller's instance (workers must not name tl_bounds)
    split_rows_by_spans(a.spans, rows, W, K, bounds);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) run_rows(direct ? direct : buf.part((int)k), bounds[k], bounds[k + 1]);
    });
    if (!direct) buf.reduce(a.grad_attr);
}

template <int CC>
void interpolate_bwd_cc(const InterpolateGradArgs& a) {
    if (a.skip_attr) interpolate_bwd_impl<CC, true>(a);
    else interpolate_bwd_impl<CC, false>(a);
}

}  // namespace

void interpolate_fwd(const InterpolateArgs& a) {
    switch (a.C) {
        case 1: interpolate_fwd_impl<1>(a); break;
        case 2: interpolate_fwd_impl<2>(a); break;
        case 3: interpolate_fwd_impl<3>(a); break;
        case 4: interpolate_fwd_impl<4>(a); break;
        case 8: interpolate_fwd_impl<8>(a); break;
        default: interpolate_fwd_impl<0>(a);
    }
}

void interpolate_bwd(const InterpolateGradArgs& a) {
    switch (a.C) {
        case 1: interpolate_bwd_cc<1>(a); break;
        case 2: interpolate_bwd_cc<2>(a); break;
        case 3: interpolate_bwd_cc<3>(a); break;
        case 4: interpolate_bwd_cc<4>(a); break;
        case 8: interpolate_bwd_cc<8>(a); break;
        default: interpolate_bwd_cc<0>(a);
    }
}

}  // namespace cpu
}  // namespace a3d
