// Rasterize (forward + backward) on the CPU.
//
// Forward: a sort-middle rasteriser, one view after the other.
//   1. project every vertex once;
//   2. triangle setup (parallel over chunks of triangles) + per-chunk counts of
//      the horizontal bands each triangle overlaps;
//   3. prefix sum -> one bin per band, triangles in id order;
//      scatter triangle ids into the bins (parallel over chunks);
//   4. per band (dynamically scheduled, most loaded first): depth test into a
//      cache-resident band buffer of 4 x 2 pixel tiles that also keeps the
//      winner's (u, v) -- computed with 8-lane SIMD per tile, so tiny triangles
//      cost one tile or two -- then one resolve pass that writes every output
//      pixel exactly once (no separate clear) and leaves the buffer clean.
// Triangles of a bin arrive in increasing id order, so a strict depth
// comparison keeps the lowest id among equal depths (deterministic ties).
// Backward is sparse: only pixels with a non-zero upstream gradient.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"
#include "simd_cpu.h"

namespace a3d {
namespace cpu {
namespace {

constexpr int64_t kChunkTris = 2048;  // triangles per setup/binning chunk

// One 4 x 2 pixel tile of a band buffer: lane k is pixel (row k / 4, column k % 4).
struct alignas(32) Tile {
    v8f z;    // depth of the current winner (kFar: none)
    v8f id;   // its triangle id + 1 as float (0: none)
    v8f u, v; // its perspective-correct barycentrics
};
constexpr float kFar = 2.0f;  // beyond the far plane: every accepted fragment is nearer

// Band height (a power of two >= 2): bands of ~16k pixels keep the tile buffer
// (128 bytes per 8 pixels, 256 KiB) in L2.
inline int band_shift(int W) {
    int s = 1;
    while (s < 6 && ((int64_t)W << (s + 1)) <= 16384) ++s;
    return s;
}

struct Workspace {
    std::vector<ProjVert> verts;
    std::vector<TriSetup> setups;
    std::vector<int32_t> counts;     // [chunks][bands]
    std::vector<int64_t> bin_start;  // [bins + 1]
    std::vector<int32_t> items;      // binned triangle ids (within the view)
    std::vector<int64_t> order;      // bin processing order
};

Workspace& workspace() {
    thread_local Workspace ws;
    return ws;
}

// Band buffer of one worker thread. Invariant between bins: every tile is clean.
struct BandBuffer {
    std::vector<Tile> tiles;
    void ensure(size_t n) {
        if (tiles.size() >= n) return;
        Tile clean;
        clean.z = splat8(kFar);
        clean.id = clean.u = clean.v = splat8(0.0f);
        tiles.resize(n, clean);
    }
};

struct Extent { int tx0, tx1; };  // touched tile columns (tx0 > tx1: none)

// Depth test of the bin's triangles into the band [ya, ya + rows) (tiles
// [tile row][tile column], tw columns). Same float operation sequence as
// edge_functions() / fragment_depth() / perspective_uv() in raster_math.h.
A3D_SIMD_CLONES
Extent raster_bin(const TriSetup* sb, const int32_t* items, int64_t n, int ya, int yb, Tile* tiles, int tw) {
    const v8f lx = {0.5f, 1.5f, 2.5f, 3.5f, 0.5f, 1.5f, 2.5f, 3.5f};
    const v8f ly = {0.5f, 0.5f, 0.5f, 0.5f, 1.5f, 1.5f, 1.5f, 1.5f};
    const v8f zero = splat8(0.0f), one = splat8(1.0f), mone = splat8(-1.0f);
    Extent ext{1 << 30, -1};
    for (int64_t it = 0; it < n; ++it) {
        const int32_t f = items[it];
        const TriSetup& t = sb[f];
        const int ylo = std::max(t.y0, ya), yhi = std::min(t.y1, yb - 1);
        const int tx0 = t.x0 >> 2, tx1 = t.x1 >> 2;
        ext.tx0 = std::min(ext.tx0, tx0);
        ext.tx1 = std::max(ext.tx1, tx1);
        const v8f s0x = splat8(t.s0x), s0y = splat8(t.s0y), d1x = splat8(t.d1x), d1y = splat8(t.d1y);
        const v8f d2x = splat8(t.d2x), d2y = splat8(t.d2y), A = splat8(t.A), invA = splat8(t.invA);
        const v8f zw0 = splat8(t.zw0), zw1 = splat8(t.zw1), zw2 = splat8(t.zw2);
        const v8f iw0 = splat8(t.iw0), iw1 = splat8(t.iw1), iw2 = splat8(t.iw2);
        const v8f sg = splat8(t.A > 0.0f ? 1.0f : -1.0f), idv = splat8((float)(f + 1));
        // pixel centres inside the triangle's (band-clipped) bounding box
        const v8f xlo = splat8((float)t.x0 + 0.5f), xhi = splat8((float)t.x1 + 0.5f);
        const v8f ylo_c = splat8((float)ylo + 0.5f), yhi_c = splat8((float)yhi + 0.5f);
        for (int ty = (ylo - ya) >> 1; ty <= (yhi - ya) >> 1; ++ty) {
            const v8f py = splat8((float)(ya + 2 * ty)) + ly;
            const v8i rowok = (py >= ylo_c) & (py <= yhi_c);
            const v8f qy = py - s0y;
            const v8f e1y = qy * d2x, e2y = d1x * qy;
            Tile* row = tiles + (int64_t)ty * tw;
            for (int tx = tx0; tx <= tx1; ++tx) {
                const v8f px = splat8((float)(4 * tx)) + lx;
                const v8f qx = px - s0x;
                const v8f e1 = qx * d2y - e1y;
                const v8f e2 = e2y - d1y * qx;
                const v8f e0 = (A - e1) - e2;
                const v8f b0 = e0 * invA, b1 = e1 * invA, b2 = e2 * invA;
                const v8f z = ((b0 * zw0 + b1 * zw1) + b2 * zw2) + zero;  // + 0 folds -0 into +0
                Tile& tl = row[tx];
                const v8i m = rowok & (px >= xlo) & (px <= xhi) & (e0 * sg >= zero) & (e1 * sg >= zero) &
                              (e2 * sg >= zero) & (z >= mone) & (z <= one) & (z < tl.z);
                const v8f c0 = b0 * iw0, c1 = b1 * iw1, c2 = b2 * iw2;
                const v8f s = (c0 + c1) + c2;
                tl.z = m ? z : tl.z;
                tl.id = m ? idv : tl.id;
                tl.u = m ? c1 / s : tl.u;
                tl.v = m ? c2 / s : tl.v;
            }
        }
    }
    return ext;
}

// True when the (u, v, z/w) gradients of 4 consecutive pixels are all +-0: such
// groups (most of the image) are skipped without reading rast.
inline bool zero_grad4(const float* g) {
#if defined(__SSE2__)
    const __m128i m = _mm_set_epi32(0, 0x7fffffff, 0x7fffffff, 0x7fffffff);
    const __m128i* p = reinterpret_cast<const __m128i*>(g);
    const __m128i o = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(p), _mm_loadu_si128(p + 1)),
                                   _mm_or_si128(_mm_loadu_si128(p + 2), _mm_loadu_si128(p + 3)));
    return _mm_movemask_epi8(_mm_cmpeq_epi32(_mm_and_si128(o, m), _mm_setzero_si128())) == 0xFFFF;
#else
    for (int k = 0; k < 4; ++k)
        if (g[4 * k] != 0.0f || g[4 * k + 1] != 0.0f || g[4 * k + 2] != 0.0f) return false;
    return true;
#endif
}

// The part of setup_projected() the backward needs (same arithmetic; no
// bounding box: the pixel's id says the triangle was drawn).
inline bool setup_grad(const ProjVert& v0, const ProjVert& v1, const ProjVert& v2, TriSetup& t) {
    if (!(v0.ok && v1.ok && v2.ok)) return false;
    t.s0x = v0.sx; t.s0y = v0.sy;
    t.d1x = v1.sx - v0.sx; t.d1y = v1.sy - v0.sy;
    t.d2x = v2.sx - v0.sx; t.d2y = v2.sy - v0.sy;
    t.A = t.d1x * t.d2y - t.d1y * t.d2x;
    if (!(t.A != 0.0f) || !a3d_isfinite(t.A)) return false;
    t.invA = 1.0f / t.A;
    t.zw0 = v0.zw; t.zw1 = v1.zw; t.zw2 = v2.zw;
    t.iw0 = v0.iw; t.iw1 = v1.iw; t.iw2 = v2.iw;
    return true;
}

// Output stores: streaming for outputs that cannot stay in cache (want_stream).
struct Store4 {
    bool stream;        // all stores
    bool stream_zero;   // the zero fills of empty parts
    void operator()(float* o, const float* v) const {  // 4 floats, o 16-byte aligned when streaming
#if defined(__SSE2__)
        if (stream) { _mm_stream_ps(o, _mm_loadu_ps(v)); return; }
#endif
        std::memcpy(o, v, 16);
    }
    void zero(float* o, size_t nfloats) const {  // nfloats multiple of 4
#if defined(__SSE2__)
        if (stream || stream_zero) {
            for (size_t i = 0; i < nfloats; i += 4) _mm_stream_ps(o + i, _mm_setzero_ps());
            return;
        }
#endif
        std::memset(o, 0, sizeof(float) * nfloats);
    }
};

// Write the band's output rows [ya, yb) (each pixel exactly once: (u, v, z, id)
// for covered pixels, zeros elsewhere), their coverage spans (when spans !=
// nullptr: [rows][2]) and reset the touched tiles.
void resolve_bin(float* out, int ya, int yb, int W, Tile* tiles, int tw, Extent ext, const Store4& st,
                 int32_t* spans) {
    const int rows = yb - ya;
    if (ext.tx0 > ext.tx1) {
        st.zero(out, 4 * (size_t)rows * W);
        if (spans)
            for (int r = 0; r < rows; ++r) spans[2 * r] = spans[2 * r + 1] = 0;
        return;
    }
    Tile clean;
    clean.z = splat8(kFar);
    clean.id = clean.u = clean.v = splat8(0.0f);
    const int xa = 4 * ext.tx0, xb = std::min(W, 4 * ext.tx1 + 4);
    for (int r = 0; r < rows; ++r) {
        float* orow = out + (size_t)r * W * 4;
        st.zero(orow, 4 * (size_t)xa);
        st.zero(orow + 4 * (size_t)xb, 4 * (size_t)(W - xb));
        const Tile* trow = tiles + (int64_t)(r >> 1) * tw;
        const int h = 4 * (r & 1);
        int sx0 = W, sx1 = 0;
        for (int tx = ext.tx0; tx <= ext.tx1; ++tx) {
            const float* z = reinterpret_cast<const float*>(&trow[tx].z) + h;
            const float* id = reinterpret_cast<const float*>(&trow[tx].id) + h;
            const float* u = reinterpret_cast<const float*>(&trow[tx].u) + h;
            const float* v = reinterpret_cast<const float*>(&trow[tx].v) + h;
            float* o = orow + 16 * tx;
            const int n = std::min(4, W - 4 * tx);
            float px[16];
#if defined(__SSE2__)
            __m128 c0 = _mm_load_ps(u), c1 = _mm_load_ps(v), c3 = _mm_load_ps(id);
            __m128 c2 = _mm_and_ps(_mm_load_ps(z), _mm_cmpneq_ps(c3, _mm_setzero_ps()));
            {
                unsigned m = (unsigned)_mm_movemask_ps(_mm_cmpneq_ps(c3, _mm_setzero_ps())) & ((1u << n) - 1u);
                if (m) {
                    sx0 = std::min(sx0, 4 * tx + __builtin_ctz(m));
                    sx1 = std::max(sx1, 4 * tx + 32 - __builtin_clz(m));
                }
            }
            _MM_TRANSPOSE4_PS(c0, c1, c2, c3);
            _mm_storeu_ps(px, c0); _mm_storeu_ps(px + 4, c1);
            _mm_storeu_ps(px + 8, c2); _mm_storeu_ps(px + 12, c3);
#else
            for (int k = 0; k < 4; ++k) {
                px[4 * k] = u[k]; px[4 * k + 1] = v[k];
                px[4 * k + 2] = id[k] != 0.0f ? z[k] : 0.0f; px[4 * k + 3] = id[k];
                if (k < n && id[k] != 0.0f) { sx0 = std::min(sx0, 4 * tx + k); sx1 = std::max(sx1, 4 * tx + k + 1); }
            }
#endif
            for (int k = 0; k < n; ++k) st(o + 4 * k, px + 4 * k);
        }
        if (spans) {
            spans[2 * r] = sx0 < sx1 ? sx0 : 0;
            spans[2 * r + 1] = sx0 < sx1 ? sx1 : 0;
        }
        if ((r & 1) || r + 1 == rows) {
            Tile* w = tiles + (int64_t)(r >> 1) * tw;
            for (int tx = ext.tx0; tx <= ext.tx1; ++tx) w[tx] = clean;
        }
    }
}

}  // namespace

void rasterize_fwd(const RasterizeArgs& a) {
    const int V = a.V, F = a.F, H = a.H, W = a.W;
    const int shift = band_shift(W), band = 1 << shift;
    const int nb = (H + band - 1) >> shift;
    const int64_t nchunks = (F + kChunkTris - 1) / kChunkTris;
    const int tw = (W + 3) >> 2;
    Workspace& ws = workspace();
    if ((int64_t)ws.setups.size() < F) ws.setups.resize(F);
    if ((int64_t)ws.verts.size() < V) ws.verts.resize(V);
    ws.bin_start.resize((size_t)nb + 1);
    ws.order.resize(nb);
    TriSetup* setups = ws.setups.data();
    ProjVert* pv = ws.verts.data();
    const int64_t out_bytes = (int64_t)a.B * H * W * 4 * (int64_t)sizeof(float);
    const bool stream = want_stream(out_bytes, a.rast);
    const Store4 st{stream, stream || (want_stream_zero(out_bytes) && reinterpret_cast<uintptr_t>(a.rast) % 16 == 0)};
    // One view at a time: its setups (72 bytes per triangle) stay in cache
    // between the passes.
    for (int b = 0; b < a.B; ++b) {
        const float* pos = a.pos + (int64_t)b * V * 4;
        ws.counts.assign((size_t)(nchunks * nb), 0);
        int32_t* counts = ws.counts.data();
        // 1. project every vertex once
        parallel_for(0, V, 4096, [&](int64_t v0, int64_t v1) {
            for (int64_t v = v0; v < v1; ++v) project_vertex(pos + 4 * v, H, W, pv[v]);
        });
        // 2. setup + count
        parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c) {
                int32_t* cnt = counts + c * nb;
                const int f0 = (int)(c * kChunkTris), f1 = (int)std::min<int64_t>(F, f0 + kChunkTris);
                for (int f = f0; f < f1; ++f) {
                    TriSetup& t = setups[f];
                    const int32_t* fv = a.faces + 3 * (int64_t)f;
                    const bool ok = face_in_range(fv, V) && setup_projected(pv[fv[0]], pv[fv[1]], pv[fv[2]], H, W, t);
                    if (!ok) { t.y0 = 1; t.y1 = 0; continue; }
                    for (int k = t.y0 >> shift; k <= t.y1 >> shift; ++k) cnt[k]++;
                }
            }
        });
        // 3. prefix sum (band-major, chunk-minor keeps triangle order inside a bin), scatter
        int64_t run = 0;
        for (int k = 0; k < nb; ++k) {
            ws.bin_start[k] = run;
            for (int64_t c = 0; c < nchunks; ++c) {
                const int32_t cnt = counts[c * nb + k];
                counts[c * nb + k] = (int32_t)run;  // becomes the write cursor
                run += cnt;
            }
        }
        ws.bin_start[nb] = run;
        if ((int64_t)ws.items.size() < run) ws.items.resize(run);
        int32_t* items = ws.items.data();
        parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c) {
                int32_t* cur = counts + c * nb;
                const int f0 = (int)(c * kChunkTris), f1 = (int)std::min<int64_t>(F, f0 + kChunkTris);
                for (int f = f0; f < f1; ++f) {
                    const TriSetup& t = setups[f];
                    if (t.y0 > t.y1) continue;   // rejected in setup
                    for (int k = t.y0 >> shift; k <= t.y1 >> shift; ++k) items[cur[k]++] = f;
                }
            }
        });
        // 4. raster + resolve per band, dynamically scheduled, most loaded first
        const int64_t* bin_start = ws.bin_start.data();
        for (int k = 0; k < nb; ++k) ws.order[k] = k;
        std::stable_sort(ws.order.begin(), ws.order.end(), [&](int64_t p, int64_t q) {
            return bin_start[p + 1] - bin_start[p] > bin_start[q + 1] - bin_start[q];
        });
        const int64_t* order = ws.order.data();
        float* rast = a.rast + (int64_t)b * H * W * 4;
        parallel_tasks(nb, [&](int64_t i) {
            thread_local BandBuffer buf;
            buf.ensure((size_t)(band >> 1) * tw);
            const int64_t k = order[i];
            const int ya = (int)k << shift, yb = std::min(H, ya + band);
            const int64_t s = bin_start[k], e = bin_start[k + 1];
            const Extent ext = raster_bin(setups, items + s, e - s, ya, yb, buf.tiles.data(), tw);
            resolve_bin(rast + (int64_t)ya * W * 4, ya, yb, W, buf.tiles.data(), tw, ext, st,
                        a.spans ? a.spans + 2 * ((int64_t)b * H + ya) : nullptr);
            stream_fence(st.stream || st.stream_zero);
        });
    }
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
    thread_local std::vector<int64_t> tl_bounds;
    std::vector<int64_t>& bounds = tl_bounds;   // the caller's instance (workers must not name tl_bounds)
    split_rows_by_spans(a.spans, rows, W, K, bounds);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
        prefetch_array(a.faces, sizeof(int32_t) * 3 * (size_t)F);
        prefetch_array(a.pos, sizeof(float) * (size_t)npos);
        for (int64_t k = k0; k < k1; ++k) {
            float* g = direct ? direct : buf.part((int)k);
            for (int64_t r = bounds[k]; r < bounds[k + 1]; ++r) {
                const int b = (int)(r / H), y = (int)(r % H);
                const float* rr = a.rast + r * W * 4;
                const float* gr = a.grad_rast + r * W * 4;
                const float* pb = a.pos + (int64_t)b * V * 4;
                float* gb = g + (int64_t)b * V * 4;
                const ProjVert* vb = pv + (int64_t)b * V;
                // Runs of pixels with the same triangle share its setup; the
                // per-pixel terms that the vertex gradients are linear in
                // (b_j Gx, b_j Gy, gz b_j, gc_j b_j; see rasterize_grad_pixel)
                // are summed over the run and converted once per run. Lane j of
                // the 4-wide vectors is vertex j (lane 3 is unused): each lane does
                // the scalar formula's operations in its order (bitwise the same).
                int last_f = -1;
                bool last_ok = false;
                TriSetup t{};
                const int32_t* fv = nullptr;
                const v4f zero4 = splat4(0.0f), lane1 = {0.0f, 1.0f, 0.0f, 0.0f}, lane2 = {0.0f, 0.0f, 1.0f, 0.0f};
                v4f AX = zero4, AY = zero4, AZ = zero4, AC = zero4;
                v4f IW = zero4, ZW = zero4, GX = zero4, GY = zero4, INVA = zero4;
                bool pending = false;
                const float hw = 0.5f * (float)W, hh = 0.5f * (float)H;
                auto flush = [&]() {
                    if (!pending) return;
                    pending = false;
                    const float* p0 = pb + 4 * fv[0];
                    const float* p1 = pb + 4 * fv[1];
                    const float* p2 = pb + 4 * fv[2];
                    const v4f PX = {p0[0], p1[0], p2[0], 0.0f}, PY = {p0[1], p1[1], p2[1], 0.0f};
                    const v4f PZ = {p0[2], p1[2], p2[2], 0.0f};
                    const v4f GSX = -AX, GSY = -AY, HW = splat4(hw), HH = splat4(hh);
                    const v4f OX = GSX * HW * IW, OY = GSY * HH * IW, OZ = AZ * IW;
                    const v4f OW = -(GSX * HW * PX + GSY * HH * PY) * IW * IW - AC * IW * IW - AZ * PZ * IW * IW;
                    for (int j = 0; j < 3; ++j) {
                        float* o = gb + 4 * fv[j];
                        store4(o, load4(o) + v4f{OX[j], OY[j], OZ[j], OW[j]});
                    }
                };
                const float py = (float)y + 0.5f;
                int xa, xb;
                row_span(a.spans, r, W, xa, xb);
                for (int x = xa; x < xb; ++x) {
                    if ((x & 3) == 0 && x + 4 <= xb && zero_grad4(gr + 4 * x)) { x += 3; continue; }
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
                        last_ok = face_in_range(fv, V) && setup_grad(vb[fv[0]], vb[fv[1]], vb[fv[2]], t);
                        if (last_ok) {
                            const float g1x = t.d2y * t.invA, g1y = -t.d2x * t.invA;
                            const float g2x = -t.d1y * t.invA, g2y = t.d1x * t.invA;
                            GX = v4f{-(g1x + g2x), g1x, g2x, 0.0f};
                            GY = v4f{-(g1y + g2y), g1y, g2y, 0.0f};
                            IW = v4f{t.iw0, t.iw1, t.iw2, 0.0f};
                            ZW = v4f{t.zw0, t.zw1, t.zw2, 0.0f};
                            INVA = splat4(t.invA);
                            AX = AY = AZ = AC = zero4;
                        }
                    }
                    if (!last_ok) continue;
                    pending = true;
                    float e0, e1, e2;
                    edge_functions(t, (float)x + 0.5f, py, e0, e1, e2);
                    const v4f Bc = v4f{e0, e1, e2, 0.0f} * INVA;
                    const v4f Cc = Bc * IW;
                    const float iS = 1.0f / (Cc[0] + Cc[1] + Cc[2]);
                    const v4f IS = splat4(iS), U = splat4(Cc[1] * iS), Vv = splat4(Cc[2] * iS);
                    const v4f GU = splat4(gu), GV = splat4(gv), GZ = splat4(gz);
                    const v4f GC = GU * ((lane1 - U) * IS) + GV * ((lane2 - Vv) * IS);
                    const v4f GB = GC * IW + GZ * ZW;
                    const v4f QX = GB * GX, QY = GB * GY;
                    const float Gx = QX[0] + QX[1] + QX[2], Gy = QY[0] + QY[1] + QY[2];
                    AX += Bc * splat4(Gx);
                    AY += Bc * splat4(Gy);
                    AZ += GZ * Bc;
                    AC += GC * Bc;
                }
                flush();
            }
        }
    });
    if (!direct) buf.reduce(a.grad_pos);
}

}  // namespace cpu
}  // namespace a3d
