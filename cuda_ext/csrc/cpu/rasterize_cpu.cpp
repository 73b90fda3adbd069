// Rasterize (forward + backward) on the CPU.
//
// Forward: a sort-middle rasteriser.
//   1. triangle setup (parallel over triangle chunks) + per-chunk counts of the
//      horizontal bands (kBand rows) each triangle overlaps;
//   2. prefix sum -> one bin per (view, band), triangles in id order;
//   3. scatter triangle ids into the bins (parallel over chunks);
//   4. per bin (parallel): depth/id test into a cache-resident band buffer of
//      packed 64-bit keys (depth bits << 32 | triangle id; min = nearest, ties ->
//      lower id), then one resolve pass that writes every output pixel exactly
//      once (no separate clear).
// Backward is sparse: only covered pixels with a non-zero upstream gradient.
#include <algorithm>
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

constexpr int kBand = 16;          // rows per bin
constexpr int64_t kChunkTris = 2048;  // triangles per setup/binning chunk

struct Workspace {
    std::vector<ProjVert> verts;
    std::vector<TriSetup> setups;
    std::vector<int32_t> counts;    // [chunks][bins]
    std::vector<int64_t> bin_start; // [bins + 1]
    std::vector<int32_t> items;     // binned triangle ids (within the view)
    std::vector<int64_t> order;     // bin processing order
};

constexpr int kPad = 4;

// Depth/id test of one triangle over the rows [ya, yb) of a band buffer.
// Triangles arrive in increasing id order, so the strict depth comparison keeps
// the lowest id among equal depths. Same float operation sequence as
// edge_functions() / fragment_depth() in common/raster_math.h.
inline void raster_triangle(const TriSetup& t, int32_t f, int ya, int yb, float* zb, int32_t* ib, int stride) {
    const int y0 = std::max(t.y0, ya), y1 = std::min(t.y1, yb - 1);
    const float sg = t.A > 0.0f ? 1.0f : -1.0f;
#if defined(__SSE2__)
    const __m128 vA = _mm_set1_ps(t.A), vinvA = _mm_set1_ps(t.invA), vs0x = _mm_set1_ps(t.s0x);
    const __m128 vd1y = _mm_set1_ps(t.d1y), vd2y = _mm_set1_ps(t.d2y);
    const __m128 vzw0 = _mm_set1_ps(t.zw0), vzw1 = _mm_set1_ps(t.zw1), vzw2 = _mm_set1_ps(t.zw2);
    const __m128 vsg = _mm_set1_ps(sg), vzero = _mm_setzero_ps(), vm1 = _mm_set1_ps(-1.0f), vp1 = _mm_set1_ps(1.0f);
    const __m128 lanes = _mm_set_ps(3.5f, 2.5f, 1.5f, 0.5f);
    const __m128 vxlim = _mm_set1_ps((float)t.x1 + 0.5f);
    const __m128i vf = _mm_set1_epi32(f);
    for (int y = y0; y <= y1; ++y) {
        float* zr = zb + (size_t)(y - ya) * stride;
        int32_t* ir = ib + (size_t)(y - ya) * stride;
        const float qy = ((float)y + 0.5f) - t.s0y;
        const __m128 ve1y = _mm_set1_ps(-(qy * t.d2x)), ve2y = _mm_set1_ps(t.d1x * qy);
        for (int x = t.x0; x <= t.x1; x += 4) {
            const __m128 px = _mm_add_ps(_mm_set1_ps((float)x), lanes);
            const __m128 qx = _mm_sub_ps(px, vs0x);
            const __m128 e1 = _mm_add_ps(_mm_mul_ps(qx, vd2y), ve1y);
            const __m128 e2 = _mm_sub_ps(ve2y, _mm_mul_ps(vd1y, qx));
            const __m128 e0 = _mm_sub_ps(_mm_sub_ps(vA, e1), e2);
            __m128 z = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(e0, vinvA), vzw0), _mm_mul_ps(_mm_mul_ps(e1, vinvA), vzw1));
            z = _mm_add_ps(_mm_add_ps(z, _mm_mul_ps(_mm_mul_ps(e2, vinvA), vzw2)), vzero);
            const __m128 zold = _mm_loadu_ps(zr + x);
            __m128 m = _mm_and_ps(_mm_cmpge_ps(_mm_mul_ps(e0, vsg), vzero), _mm_cmpge_ps(_mm_mul_ps(e1, vsg), vzero));
            m = _mm_and_ps(m, _mm_cmpge_ps(_mm_mul_ps(e2, vsg), vzero));
            m = _mm_and_ps(m, _mm_and_ps(_mm_cmpge_ps(z, vm1), _mm_cmple_ps(z, vp1)));
            m = _mm_and_ps(m, _mm_and_ps(_mm_cmplt_ps(z, zold), _mm_cmple_ps(px, vxlim)));
            if (_mm_movemask_ps(m) == 0) continue;
            _mm_storeu_ps(zr + x, _mm_or_ps(_mm_and_ps(m, z), _mm_andnot_ps(m, zold)));
            const __m128i mi = _mm_castps_si128(m);
            const __m128i iold = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ir + x));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(ir + x),
                             _mm_or_si128(_mm_and_si128(mi, vf), _mm_andnot_si128(mi, iold)));
        }
    }
#else
    for (int y = y0; y <= y1; ++y) {
        float* zr = zb + (size_t)(y - ya) * stride;
        int32_t* ir = ib + (size_t)(y - ya) * stride;
        const float qy = ((float)y + 0.5f) - t.s0y;
        const float e1y = -(qy * t.d2x), e2y = t.d1x * qy;
        for (int x = t.x0; x <= t.x1; ++x) {
            const float qx = ((float)x + 0.5f) - t.s0x;
            const float e1 = qx * t.d2y + e1y;
            const float e2 = e2y - t.d1y * qx;
            const float e0 = t.A - e1 - e2;
            const float z = (((e0 * t.invA) * t.zw0 + (e1 * t.invA) * t.zw1) + (e2 * t.invA) * t.zw2) + 0.0f;
            const bool in = (e0 * sg >= 0.0f) & (e1 * sg >= 0.0f) & (e2 * sg >= 0.0f) & (z >= -1.0f) &
                            (z <= 1.0f) & (z < zr[x]);
            if (in) { zr[x] = z; ir[x] = f; }
        }
    }
#endif
}

Workspace& workspace() {
    thread_local Workspace ws;
    return ws;
}

}  // namespace

void rasterize_fwd(const RasterizeArgs& a) {
    const int B = a.B, V = a.V, F = a.F, H = a.H, W = a.W;
    const int nb = (H + kBand - 1) / kBand;
    const int64_t nbins = (int64_t)B * nb;
    const int64_t total = (int64_t)B * F;
    const int64_t nverts = (int64_t)B * V;
    const int64_t nchunks = total > 0 ? (total + kChunkTris - 1) / kChunkTris : 0;
    Workspace& ws = workspace();
    if ((int64_t)ws.setups.size() < total) ws.setups.resize(total);
    if ((int64_t)ws.verts.size() < nverts) ws.verts.resize(nverts);
    ws.counts.assign((size_t)(nchunks * nbins), 0);
    ws.bin_start.assign((size_t)(nbins + 1), 0);
    TriSetup* setups = ws.setups.data();
    ProjVert* pv = ws.verts.data();
    int32_t* counts = ws.counts.data();

    // 0. project every vertex once
    parallel_for(0, nverts, 4096, [&](int64_t v0, int64_t v1) {
        for (int64_t v = v0; v < v1; ++v) project_vertex(a.pos + 4 * v, H, W, pv[v]);
    });
    // 1. setup + count
    parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            int32_t* cnt = counts + c * nbins;
            const int64_t g1 = std::min(total, (c + 1) * kChunkTris);
            for (int64_t g = c * kChunkTris; g < g1; ++g) {
                const int b = (int)(g / F), f = (int)(g % F);
                TriSetup& t = setups[g];
                const int32_t* fv = a.faces + 3 * (int64_t)f;
                const int i0 = fv[0], i1 = fv[1], i2 = fv[2];
                const ProjVert* vb = pv + (int64_t)b * V;
                bool ok = i0 >= 0 && i0 < V && i1 >= 0 && i1 < V && i2 >= 0 && i2 < V &&
                          setup_projected(vb[i0], vb[i1], vb[i2], H, W, t);
                if (!ok) { t.y0 = 1; t.y1 = 0; continue; }
                for (int band = t.y0 / kBand; band <= t.y1 / kBand; ++band) cnt[(int64_t)b * nb + band]++;
            }
        }
    });
    // 2. prefix sum (bin-major, chunk-minor keeps triangle order inside a bin)
    int64_t run = 0;
    for (int64_t bin = 0; bin < nbins; ++bin) {
        ws.bin_start[bin] = run;
        for (int64_t c = 0; c < nchunks; ++c) {
            int32_t n = counts[c * nbins + bin];
            counts[c * nbins + bin] = (int32_t)run;  // becomes the write cursor
            run += n;
        }
    }
    ws.bin_start[nbins] = run;
    if ((int64_t)ws.items.size() < run) ws.items.resize(run);
    int32_t* items = ws.items.data();
    // 3. scatter
    parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            int32_t* cur = counts + c * nbins;
            const int64_t g1 = std::min(total, (c + 1) * kChunkTris);
            for (int64_t g = c * kChunkTris; g < g1; ++g) {
                const TriSetup& t = setups[g];
                if (t.y0 > t.y1) continue;
                const int b = (int)(g / F), f = (int)(g % F);
                for (int band = t.y0 / kBand; band <= t.y1 / kBand; ++band)
                    items[cur[(int64_t)b * nb + band]++] = f;
            }
        }
    });
    // 4. raster + resolve per bin. Triangles arrive in increasing id order, so a
    //    strict depth comparison keeps the lowest id among equal depths.
    const int64_t* bin_start = ws.bin_start.data();
    ws.order.resize(nbins);
    for (int64_t i = 0; i < nbins; ++i) ws.order[i] = i;
    // dynamic scheduling over all (view, band) bins of the batch, most loaded first
    std::stable_sort(ws.order.begin(), ws.order.end(), [&](int64_t p, int64_t q) {
        return bin_start[p + 1] - bin_start[p] > bin_start[q + 1] - bin_start[q];
    });
    const int64_t* order = ws.order.data();
    parallel_tasks(nbins, [&](int64_t lbin) {
        thread_local std::vector<float> zbuf;
        thread_local std::vector<int32_t> ibuf;
        const int stride = W + kPad;   // padded rows: 4-wide SIMD stores may run past x1
        if ((int64_t)zbuf.size() < (int64_t)kBand * stride) {
            zbuf.resize((size_t)kBand * stride);
            ibuf.resize((size_t)kBand * stride);
        }
        {
            const int64_t bin = order[lbin];
            const int b = (int)(bin / nb), band = (int)(bin % nb);
            const int ya = band * kBand, yb = std::min(H, ya + kBand);
            const int rows = yb - ya;
            float* out = a.rast + ((int64_t)b * H + ya) * W * 4;
            if (bin_start[bin] == bin_start[bin + 1]) {
                std::memset(out, 0, sizeof(float) * 4 * (size_t)rows * W);
                return;
            }
            float* zb = zbuf.data();
            int32_t* ib = ibuf.data();
            std::fill(zb, zb + (size_t)rows * stride, 2.0f);   // beyond the far plane
            std::fill(ib, ib + (size_t)rows * stride, -1);
            const TriSetup* sb = setups + (int64_t)b * F;
            for (int64_t it = bin_start[bin]; it < bin_start[bin + 1]; ++it) {
                const int32_t f = items[it];
                raster_triangle(sb[f], f, ya, yb, zb, ib, stride);
            }
            for (int y = ya; y < yb; ++y) {
                const int32_t* ir = ib + (size_t)(y - ya) * stride;
                float* orow = a.rast + ((int64_t)b * H + y) * W * 4;
                const float py = (float)y + 0.5f;
                auto resolve = [&](int x) {
                    float* o = orow + 4 * x;
                    const int32_t f = ir[x];
                    const TriSetup& t = sb[f];
                    float e0, e1, e2, u, v;
                    edge_functions(t, (float)x + 0.5f, py, e0, e1, e2);
                    perspective_uv(t, e0, e1, e2, u, v);
                    o[0] = u; o[1] = v; o[2] = fragment_depth(t, e0, e1, e2); o[3] = (float)(f + 1);
                };
#if defined(__SSE2__)
                // 4 ids at a time (rows are padded with -1): skip empty groups
                const __m128 vz = _mm_setzero_ps();
                int x = 0;
                for (; x + 4 <= W; x += 4) {
                    const unsigned m = (unsigned)_mm_movemask_ps(
                        _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ir + x))));
                    if (m == 0xFu) {
                        float* o = orow + 4 * x;
                        _mm_storeu_ps(o, vz); _mm_storeu_ps(o + 4, vz);
                        _mm_storeu_ps(o + 8, vz); _mm_storeu_ps(o + 12, vz);
                        continue;
                    }
                    for (int k = 0; k < 4; ++k) {
                        if ((m >> k) & 1u) _mm_storeu_ps(orow + 4 * (x + k), vz);
                        else resolve(x + k);
                    }
                }
                for (; x < W; ++x) {
                    if (ir[x] >= 0) resolve(x);
                    else _mm_storeu_ps(orow + 4 * x, vz);
                }
#else
                for (int x = 0; x < W; ++x) {
                    if (ir[x] >= 0) resolve(x);
                    else { float* o = orow + 4 * x; o[0] = o[1] = o[2] = o[3] = 0.0f; }
                }
#endif
            }
        }
    });
}

void rasterize_bwd(const RasterizeGradArgs& a) {
    const int B = a.B, V = a.V, F = a.F, H = a.H, W = a.W;
    const int64_t rows = (int64_t)B * H;
    const int64_t npos = (int64_t)B * V * 4;
    thread_local std::vector<ProjVert> pvs;
    pvs.resize((size_t)B * V);
    ProjVert* pv = pvs.data();
    parallel_for(0, (int64_t)B * V, 4096, [&](int64_t v0, int64_t v1) {
        for (int64_t v = v0; v < v1; ++v) project_vertex(a.pos + 4 * v, H, W, pv[v]);
    });
    const int K = (int)std::min<int64_t>(num_threads(), std::max<int64_t>(rows, 1));
    thread_local PartBuffers tl_buf;   // reused across calls (no fresh pages per call)
    PartBuffers& buf = tl_buf;        // the caller's instance (workers must not name tl_buf)
    float* direct = nullptr;
    if (K == 1) { std::memset(a.grad_pos, 0, sizeof(float) * npos); direct = a.grad_pos; }
    else buf.init(K, npos);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            float* g = direct ? direct : buf.part((int)k);
            int64_t r0, r1;
            split_range(rows, K, (int)k, r0, r1);
            for (int64_t r = r0; r < r1; ++r) {
                const int b = (int)(r / H), y = (int)(r % H);
                const float* rr = a.rast + r * W * 4;
                const float* gr = a.grad_rast + r * W * 4;
                const float* pb = a.pos + (int64_t)b * V * 4;
                float* gb = g + (int64_t)b * V * 4;
                const ProjVert* vb = pv + (int64_t)b * V;
                // Runs of pixels with the same triangle share its setup; the
                // per-pixel terms that the vertex gradients are linear in
                // (b_j Gx, b_j Gy, gz b_j, gc_j b_j; see rasterize_grad_pixel)
                // are summed over the run and converted once per run.
                int last_f = -1;
                bool last_ok = false;
                TriSetup t;
                const int32_t* fv = nullptr;
                float AX[3] = {0, 0, 0}, AY[3] = {0, 0, 0}, AZ[3] = {0, 0, 0}, AC[3] = {0, 0, 0};
                bool pending = false;
                float g0x = 0, g0y = 0, g1x = 0, g1y = 0, g2x = 0, g2y = 0;
                const float hw = 0.5f * (float)W, hh = 0.5f * (float)H;
                auto flush = [&]() {
                    if (!pending) return;
                    pending = false;
                    const float iw[3] = {t.iw0, t.iw1, t.iw2};
                    for (int j = 0; j < 3; ++j) {
                        const float* pj = pb + 4 * fv[j];
                        const float iwj = iw[j];
                        const float gsx = -AX[j], gsy = -AY[j];
                        float* o = gb + 4 * fv[j];
                        o[0] += gsx * hw * iwj;
                        o[1] += gsy * hh * iwj;
                        o[2] += AZ[j] * iwj;
                        o[3] += -(gsx * hw * pj[0] + gsy * hh * pj[1]) * iwj * iwj - AC[j] * iwj * iwj -
                                AZ[j] * pj[2] * iwj * iwj;
                    }
                };
                const float py = (float)y + 0.5f;
                for (int x = 0; x < W; ++x) {
                    const float id = rr[4 * x + 3];
                    if (!(id > 0.0f)) continue;
                    const float gu = gr[4 * x], gv = gr[4 * x + 1], gz = gr[4 * x + 2];
                    if (gu == 0.0f && gv == 0.0f && gz == 0.0f) continue;
                    const int f = (int)id - 1;
                    if (f < 0 || f >= F) continue;
                    if (f != last_f) {
                        flush();
                        last_f = f;
                        fv = a.faces + 3 * (int64_t)f;
                        last_ok = fv[0] >= 0 && fv[0] < V && fv[1] >= 0 && fv[1] < V && fv[2] >= 0 && fv[2] < V &&
                                  setup_projected(vb[fv[0]], vb[fv[1]], vb[fv[2]], H, W, t);
                        if (last_ok) {
                            g1x = t.d2y * t.invA; g1y = -t.d2x * t.invA;
                            g2x = -t.d1y * t.invA; g2y = t.d1x * t.invA;
                            g0x = -(g1x + g2x); g0y = -(g1y + g2y);
                            for (int j = 0; j < 3; ++j) AX[j] = AY[j] = AZ[j] = AC[j] = 0.0f;
                        }
                    }
                    if (!last_ok) continue;
                    pending = true;
                    float e0, e1, e2;
                    edge_functions(t, (float)x + 0.5f, py, e0, e1, e2);
                    const float b0 = e0 * t.invA, b1 = e1 * t.invA, b2 = e2 * t.invA;
                    const float c0 = b0 * t.iw0, c1 = b1 * t.iw1, c2 = b2 * t.iw2;
                    const float iS = 1.0f / (c0 + c1 + c2);
                    const float u = c1 * iS, v = c2 * iS;
                    const float gc0 = gu * ((0.0f - u) * iS) + gv * ((0.0f - v) * iS);
                    const float gc1 = gu * ((1.0f - u) * iS) + gv * ((0.0f - v) * iS);
                    const float gc2 = gu * ((0.0f - u) * iS) + gv * ((1.0f - v) * iS);
                    const float gb0 = gc0 * t.iw0 + gz * t.zw0, gb1 = gc1 * t.iw1 + gz * t.zw1,
                                gb2 = gc2 * t.iw2 + gz * t.zw2;
                    const float Gx = gb0 * g0x + gb1 * g1x + gb2 * g2x;
                    const float Gy = gb0 * g0y + gb1 * g1y + gb2 * g2y;
                    AX[0] += b0 * Gx; AX[1] += b1 * Gx; AX[2] += b2 * Gx;
                    AY[0] += b0 * Gy; AY[1] += b1 * Gy; AY[2] += b2 * Gy;
                    AZ[0] += gz * b0; AZ[1] += gz * b1; AZ[2] += gz * b2;
                    AC[0] += gc0 * b0; AC[1] += gc1 * b1; AC[2] += gc2 * b2;
                }
                flush();
            }
        }
    });
    if (!direct) buf.reduce(a.grad_pos);
}

}  // namespace cpu
}  // namespace a3d
