// Framework-free rasteriser math shared by the CPU (C++) and CUDA kernels.
//
// No torch types here: plain pointers, plain structs, inline functions that
// compile both as host C++ and as CUDA __host__ __device__ code.
//
// Conventions (identical to avatar3d/ops/reference.py, which is the oracle):
//   * clip position (x, y, z, w); NDC = xyz / w; NDC x right, NDC y DOWN.
//   * screen (pixel units): sx = (x / w + 1) * (W / 2), sy = (y / w + 1) * (H / 2);
//     pixel (row i, column j) has its centre at (sx, sy) = (j + 0.5, i + 0.5).
//   * depth z / w in [-1, 1], smaller = nearer; fragments outside are discarded.
//   * a triangle with any vertex w <= 0 (or a non-finite / zero screen area)
//     is rejected as a whole; for w > 0 the per-fragment depth range test is an
//     exact near/far clip.
//   * edge functions are measured from the triangle's own vertex 0
//     (q = p - s0), never from absolute pixel coordinates.
//   * barycentrics: e1, e2 = edge functions of vertices 1 and 2, e0 = A - e1 - e2;
//     b_k = e_k * (1 / A); perspective-correct c_k = b_k * (1 / w_k),
//     u = c1 / (c0 + c1 + c2), v = c2 / (c0 + c1 + c2).
//
// The exact order of floating point operations matters: the reference uses the
// same sequence so that both agree to the last bit on almost every pixel.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define A3D_HD __host__ __device__ __forceinline__
#else
#define A3D_HD inline
#endif

namespace a3d {

// Maximum supported image side (validated in Python as well).
constexpr int kMaxResolution = 8192;

// Screen-space setup of one triangle.
struct TriSetup {
    float s0x, s0y;       // vertex 0 in pixel units
    float d1x, d1y;       // s1 - s0
    float d2x, d2y;       // s2 - s0
    float A;              // d1 x d2 (twice the signed screen area)
    float invA;           // 1 / A
    float zw0, zw1, zw2;  // z / w per vertex
    float iw0, iw1, iw2;  // 1 / w per vertex
    int x0, x1, y0, y1;   // inclusive pixel bounding box, clipped to the image
};

A3D_HD bool a3d_isfinite(float x) { return (x - x) == 0.0f; }

// Whether the three vertex indices of a face lie in [0, V) (one unsigned compare per index
// also rejects negative ones): every kernel checks before it reads a face's vertices.
A3D_HD bool face_in_range(const int32_t* fv, int V) {
    return (uint32_t)fv[0] < (uint32_t)V && (uint32_t)fv[1] < (uint32_t)V && (uint32_t)fv[2] < (uint32_t)V;
}

A3D_HD float fmin3(float a, float b, float c) { float m = a < b ? a : b; return m < c ? m : c; }
A3D_HD float fmax3(float a, float b, float c) { float m = a > b ? a : b; return m > c ? m : c; }

// Screen coordinate of clip (x, w) with half extent `half` (= W / 2 or H / 2).
A3D_HD float to_screen(float x, float w, float half) { return (x / w + 1.0f) * half; }

// A vertex projected to the screen (shared by all triangles using it).
struct ProjVert {
    float sx, sy;  // pixel units
    float zw, iw;  // z / w, 1 / w
    int ok;        // w > 0
};

A3D_HD void project_vertex(const float* p, int H, int W, ProjVert& v) {
    const float hw = 0.5f * (float)W, hh = 0.5f * (float)H;
    v.ok = p[3] > 0.0f;
    v.sx = to_screen(p[0], p[3], hw);
    v.sy = to_screen(p[1], p[3], hh);
    v.zw = p[2] / p[3];
    v.iw = 1.0f / p[3];
}

// Setup a triangle from its three projected vertices. Returns false when the
// triangle is rejected (w <= 0, degenerate, non-finite, beyond the depth range,
// or covering no pixel centre of the image).
A3D_HD bool setup_projected(const ProjVert& v0, const ProjVert& v1, const ProjVert& v2, int H, int W,
                            TriSetup& t) {
    if (!(v0.ok && v1.ok && v2.ok)) return false;
    const float s0x = v0.sx, s0y = v0.sy, s1x = v1.sx, s1y = v1.sy, s2x = v2.sx, s2y = v2.sy;
    t.s0x = s0x; t.s0y = s0y;
    t.d1x = s1x - s0x; t.d1y = s1y - s0y;
    t.d2x = s2x - s0x; t.d2y = s2y - s0y;
    t.A = t.d1x * t.d2y - t.d1y * t.d2x;
    if (!(t.A != 0.0f) || !a3d_isfinite(t.A)) return false;
    t.invA = 1.0f / t.A;
    t.zw0 = v0.zw; t.zw1 = v1.zw; t.zw2 = v2.zw;
    t.iw0 = v0.iw; t.iw1 = v1.iw; t.iw2 = v2.iw;
    // z range test for the whole triangle: all vertices beyond the same plane.
    if (fmin3(t.zw0, t.zw1, t.zw2) > 1.0f || fmax3(t.zw0, t.zw1, t.zw2) < -1.0f) return false;
    // pixel j is a candidate when j + 0.5 in [xmin, xmax]  <=>  j in [ceil(xmin - .5), floor(xmax - .5)]
    float xmin = fmin3(s0x, s1x, s2x) - 0.5f, xmax = fmax3(s0x, s1x, s2x) - 0.5f;
    float ymin = fmin3(s0y, s1y, s2y) - 0.5f, ymax = fmax3(s0y, s1y, s2y) - 0.5f;
    if (!(xmax >= 0.0f) || !(ymax >= 0.0f) || !(xmin <= (float)(W - 1)) || !(ymin <= (float)(H - 1)))
        return false;
    xmin = xmin < 0.0f ? 0.0f : xmin;
    ymin = ymin < 0.0f ? 0.0f : ymin;
    xmax = xmax > (float)(W - 1) ? (float)(W - 1) : xmax;
    ymax = ymax > (float)(H - 1) ? (float)(H - 1) : ymax;
    int ix0 = (int)xmin; if ((float)ix0 < xmin) ix0++;   // ceil for non-negative
    int iy0 = (int)ymin; if ((float)iy0 < ymin) iy0++;
    t.x0 = ix0; t.x1 = (int)xmax; t.y0 = iy0; t.y1 = (int)ymax;
    return t.x0 <= t.x1 && t.y0 <= t.y1;
}

// Setup a triangle from its three clip-space vertices (each 4 floats).
A3D_HD bool setup_triangle(const float* p0, const float* p1, const float* p2, int H, int W, TriSetup& t) {
    ProjVert v0, v1, v2;
    project_vertex(p0, H, W, v0);
    project_vertex(p1, H, W, v1);
    project_vertex(p2, H, W, v2);
    return setup_projected(v0, v1, v2, H, W, t);
}

// Edge functions at pixel centre (px, py) measured from vertex 0.
A3D_HD void edge_functions(const TriSetup& t, float px, float py, float& e0, float& e1, float& e2) {
    const float qx = px - t.s0x, qy = py - t.s0y;
    e1 = qx * t.d2y - qy * t.d2x;
    e2 = t.d1x * qy - t.d1y * qx;
    e0 = t.A - e1 - e2;
}

A3D_HD bool edges_inside(const TriSetup& t, float e0, float e1, float e2) {
    if (t.A > 0.0f) return e0 >= 0.0f && e1 >= 0.0f && e2 >= 0.0f;
    return e0 <= 0.0f && e1 <= 0.0f && e2 <= 0.0f;
}

// Screen-space (affine) depth z/w at a covered pixel. The "+ 0.0f" folds -0 into +0.
A3D_HD float fragment_depth(const TriSetup& t, float e0, float e1, float e2) {
    const float b0 = e0 * t.invA, b1 = e1 * t.invA, b2 = e2 * t.invA;
    return (b0 * t.zw0 + b1 * t.zw1 + b2 * t.zw2) + 0.0f;
}

// Perspective-correct barycentrics (weights of vertices 1 and 2).
A3D_HD void perspective_uv(const TriSetup& t, float e0, float e1, float e2, float& u, float& v) {
    const float c0 = (e0 * t.invA) * t.iw0, c1 = (e1 * t.invA) * t.iw1, c2 = (e2 * t.invA) * t.iw2;
    const float s = c0 + c1 + c2;
    u = c1 / s;
    v = c2 / s;
}

// Order-preserving map of a float depth to uint32 (for packed depth/id keys).
A3D_HD uint32_t depth_bits(float z) {
    union { float f; uint32_t u; } c; c.f = z;
    return (c.u & 0x80000000u) ? ~c.u : (c.u | 0x80000000u);
}
A3D_HD uint64_t pack_key(float z, uint32_t tri) { return ((uint64_t)depth_bits(z) << 32) | (uint64_t)tri; }
constexpr uint64_t kEmptyKey = ~(uint64_t)0;

// ---------------------------------------------------------------------------
// Rasterize backward for one covered pixel: given dL/du, dL/dv, dL/d(z/w),
// accumulate dL/d(clip) of the three vertices into g[3][4] (overwritten).
// Derivation (b = screen barycentrics, grad_p b_k = gradient wrt pixel position):
//   d b_k / d s_j = -b_j * grad_p b_k       (s_j = screen position of vertex j)
//   u = c1/S, v = c2/S, c_k = b_k / w_k, S = sum c_k;  zw = sum b_k zw_k.
A3D_HD void rasterize_grad_pixel(const float* p[3], const TriSetup& t, float px, float py,
                                 float gu, float gv, float gz, int H, int W, float g[3][4]) {
    float e0, e1, e2;
    edge_functions(t, px, py, e0, e1, e2);
    const float b[3] = {e0 * t.invA, e1 * t.invA, e2 * t.invA};
    const float iw[3] = {t.iw0, t.iw1, t.iw2};
    const float zw[3] = {t.zw0, t.zw1, t.zw2};
    const float c[3] = {b[0] * iw[0], b[1] * iw[1], b[2] * iw[2]};
    const float S = c[0] + c[1] + c[2];
    const float iS = 1.0f / S;
    const float u = c[1] * iS, v = c[2] * iS;
    float gc[3];
    for (int k = 0; k < 3; ++k) {
        const float du = ((k == 1 ? 1.0f : 0.0f) - u) * iS;
        const float dv = ((k == 2 ? 1.0f : 0.0f) - v) * iS;
        gc[k] = gu * du + gv * dv;
    }
    // gradient wrt screen barycentrics
    float gb[3];
    for (int k = 0; k < 3; ++k) gb[k] = gc[k] * iw[k] + gz * zw[k];
    // grad_p b1 = (d2y, -d2x)/A, grad_p b2 = (-d1y, d1x)/A, grad_p b0 = -(sum)
    const float g1x = t.d2y * t.invA, g1y = -t.d2x * t.invA;
    const float g2x = -t.d1y * t.invA, g2y = t.d1x * t.invA;
    const float g0x = -(g1x + g2x), g0y = -(g1y + g2y);
    const float Gx = gb[0] * g0x + gb[1] * g1x + gb[2] * g2x;
    const float Gy = gb[0] * g0y + gb[1] * g1y + gb[2] * g2y;
    const float hw = 0.5f * (float)W, hh = 0.5f * (float)H;
    for (int j = 0; j < 3; ++j) {
        const float gsx = -b[j] * Gx, gsy = -b[j] * Gy;   // dL/d s_j
        const float x = p[j][0], y = p[j][1], z = p[j][2];
        const float iwj = iw[j];
        g[j][0] = gsx * hw * iwj;
        g[j][1] = gsy * hh * iwj;
        // z/w term: d zw_j / d z_j = 1/w_j
        g[j][2] = gz * b[j] * iwj;
        // w: screen (-x/w^2), perspective weight (-b/w^2), depth (-z/w^2)
        g[j][3] = -(gsx * hw * x + gsy * hh * y) * iwj * iwj - gc[j] * b[j] * iwj * iwj -
                  gz * b[j] * z * iwj * iwj;
    }
}

// ---------------------------------------------------------------------------
// Texture sampling helpers.
A3D_HD int wrap_index(int i, int n) { int r = i % n; return r < 0 ? r + n : r; }
A3D_HD int clamp_index(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
// Texture coordinate -> continuous texel coordinate. uv (0, 0) is the outer corner
// of texel (row 0, col 0); u runs along the width, v along the height (rows).
// wrap: u is first reduced to [0, 1) (u - floor(u)); clamp: u is limited to
// [-1, 2] (beyond that every tap is clamped to the border texel anyway).
A3D_HD float reduce_coord(float u, int wrap) {
    if (wrap) { float r = u - floorf(u); return r < 1.0f ? r : 0.0f; }
    return u < -1.0f ? -1.0f : (u > 2.0f ? 2.0f : u);
}
A3D_HD int fix_index(int i, int n, int wrap) { return wrap ? wrap_index(i, n) : clamp_index(i, n); }

// ---------------------------------------------------------------------------
// Antialias: one pixel pair P (left/top) and Q (right/bottom).
struct AAEvent {
    int target;      // 0: P is modified, 1: Q is modified
    float alpha;     // blend weight of the source colour into the target pixel
    float sign_t;    // d alpha / d t  (+1 when target is the non-front pixel, -1 otherwise)
    int va, vb;      // vertex indices of the silhouette edge
    float eF, eO;    // edge function at the front pixel and at the other pixel
    float fpx, fpy, opx, opy;  // the two pixel centres (front, other)
    int front;       // 0: front triangle sits at P, 1: at Q
};

A3D_HD void clip_to_screen(const float* p, int H, int W, float& sx, float& sy) {
    sx = to_screen(p[0], p[3], 0.5f * (float)W);
    sy = to_screen(p[1], p[3], 0.5f * (float)H);
}

// Vertex accessors for aa_pair: projected on the fly from clip positions, or
// read from a pre-projected array (identical arithmetic, see project_vertex()).
struct ClipVerts {
    const float* pos; int H, W;
    A3D_HD void operator()(int v, ProjVert& out) const { project_vertex(pos + 4 * v, H, W, out); }
};
struct ProjectedVerts {
    const ProjVert* pv;
    A3D_HD void operator()(int v, ProjVert& out) const { out = pv[v]; }
};

// Silhouette bits of one triangle (bit k: edge k, joining vertices k+1 and k+2,
// is a silhouette: a boundary edge, a neighbour behind the camera, or a
// neighbour whose opposite vertex lies on the same side of the edge as ours).
// Same arithmetic as the inline test in aa_pair().
template <class Verts>
A3D_HD unsigned silhouette_bits(const Verts& verts, const int32_t* faces, const int32_t* topo, int V, int tri) {
    float sx[3], sy[3];
    for (int k = 0; k < 3; ++k) {
        const int v = faces[3 * tri + k];
        if (v < 0 || v >= V) return 0u;
        ProjVert pv;
        verts(v, pv);
        if (!pv.ok) return 0u;
        sx[k] = pv.sx; sy[k] = pv.sy;
    }
    unsigned bits = 0u;
    for (int k = 0; k < 3; ++k) {
        const int a = (k + 1) % 3, b = (k + 2) % 3;
        const int opp = topo[3 * tri + k];
        bool sil = true;
        if (opp >= 0 && opp < V) {
            ProjVert pd;
            verts(opp, pd);
            if (pd.ok) {
                const float ex = sx[b] - sx[a], ey = sy[b] - sy[a];
                const float sc = ex * (sy[k] - sy[a]) - ey * (sx[k] - sx[a]);
                const float sd = ex * (pd.sy - sy[a]) - ey * (pd.sx - sx[a]);
                sil = sc * sd > 0.0f;
            }
        }
        bits |= sil ? (1u << k) : 0u;
    }
    return bits;
}

// Evaluate the pair. idP/idQ are triangle ids + 1 (0 = empty) as floats in rast.
// verts(v, ProjVert&) gives projected vertex v of this view; faces [F,3];
// topo [F,3] = vertex opposite each edge in the neighbouring triangle (-1:
// boundary edge). Edge k joins vertices k+1, k+2.
// sil: optional precomputed silhouette_bits() per triangle (nullptr: test inline).
template <class Verts>
A3D_HD bool aa_pair(const Verts& verts, const int32_t* faces, const int32_t* topo, int V, int F,
                    float idP, float idQ, float zP, float zQ, float pPx, float pPy,
                    float pQx, float pQy, AAEvent& ev, const uint8_t* sil = nullptr) {
    if (!(idP >= 0.0f && idP <= (float)F) || !(idQ >= 0.0f && idQ <= (float)F)) {
        // out-of-range ids (tampered rast) are treated as empty
        idP = (idP >= 0.0f && idP <= (float)F) ? idP : 0.0f;
        idQ = (idQ >= 0.0f && idQ <= (float)F) ? idQ : 0.0f;
    }
    const int tP = (int)idP - 1, tQ = (int)idQ - 1;
    if (tP == tQ) return false;
    const bool okP = tP >= 0, okQ = tQ >= 0;
    if (!okP && !okQ) return false;
    int front;
    if (!okQ) front = 0;
    else if (!okP) front = 1;
    else if (zP < zQ) front = 0;
    else if (zQ < zP) front = 1;
    else front = tP < tQ ? 0 : 1;
    const int tri = front == 0 ? tP : tQ;
    if (sil != nullptr && sil[tri] == 0) return false;   // no silhouette edge at all
    const float fx = front == 0 ? pPx : pQx, fy = front == 0 ? pPy : pQy;
    const float ox = front == 0 ? pQx : pPx, oy = front == 0 ? pQy : pPy;
    int vi[3];
    float sx[3], sy[3];
    for (int k = 0; k < 3; ++k) {
        vi[k] = faces[3 * tri + k];
        if (vi[k] < 0 || vi[k] >= V) return false;
        ProjVert pv;
        verts(vi[k], pv);
        if (!pv.ok) return false;
        sx[k] = pv.sx; sy[k] = pv.sy;
    }
    const float A = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sy[1] - sy[0]) * (sx[2] - sx[0]);
    if (!(A != 0.0f)) return false;
    const float sg = A > 0.0f ? 1.0f : -1.0f;
    int best = -1;
    float best_t = 2.0f, best_eF = 0.0f, best_eO = 0.0f;
    for (int k = 0; k < 3; ++k) {
        const int a = (k + 1) % 3, b = (k + 2) % 3;
        const float ex = sx[b] - sx[a], ey = sy[b] - sy[a];
        const float eF = ex * (fy - sy[a]) - ey * (fx - sx[a]);
        const float eO = ex * (oy - sy[a]) - ey * (ox - sx[a]);
        if (eF * sg >= 0.0f && eO * sg < 0.0f) {
            const float t = eF / (eF - eO);
            if (t < best_t) { best_t = t; best = k; best_eF = eF; best_eO = eO; }
        }
    }
    if (best < 0) return false;
    const int a = (best + 1) % 3, b = (best + 2) % 3;
    // silhouette test: neighbour's opposite vertex on the same side as our own.
    const int opp = topo[3 * tri + best];
    if (sil != nullptr) {
        if (!((sil[tri] >> best) & 1u)) return false;
    } else if (opp >= 0 && opp < V) {
        ProjVert pd;
        verts(opp, pd);
        if (pd.ok) {
            const float ex = sx[b] - sx[a], ey = sy[b] - sy[a];
            const float sc = ex * (sy[best] - sy[a]) - ey * (sx[best] - sx[a]);
            const float sd = ex * (pd.sy - sy[a]) - ey * (pd.sx - sx[a]);
            if (!(sc * sd > 0.0f)) return false;   // interior edge: no antialiasing
        }
    }
    const float t = best_t;
    ev.front = front;
    ev.va = vi[a]; ev.vb = vi[b];
    ev.eF = best_eF; ev.eO = best_eO;
    ev.fpx = fx; ev.fpy = fy; ev.opx = ox; ev.opy = oy;
    if (t > 0.5f) {        // front triangle reaches into the other pixel
        ev.target = 1 - front;
        ev.alpha = t - 0.5f;
        ev.sign_t = 1.0f;
    } else {               // front pixel is partially uncovered
        ev.target = front;
        ev.alpha = 0.5f - t;
        ev.sign_t = -1.0f;
    }
    return ev.alpha > 0.0f;
}

// Gradient of the pair's alpha wrt the clip positions of the edge vertices a, b.
// dL/dalpha = ga.  Writes ga_[0..3] (vertex a) and gb_[0..3] (vertex b).
A3D_HD void aa_pair_grad(const float* pa, const float* pb, const AAEvent& ev, float ga, int H, int W,
                         float gA[4], float gB[4]) {
    const float hw = 0.5f * (float)W, hh = 0.5f * (float)H;
    float ax, ay, bx, by;
    clip_to_screen(pa, H, W, ax, ay);
    clip_to_screen(pb, H, W, bx, by);
    const float den = ev.eF - ev.eO;
    const float gt = ga * ev.sign_t;
    const float geF = gt * (-ev.eO) / (den * den);
    const float geO = gt * ev.eF / (den * den);
    // e(p) = (bx-ax)(py-ay) - (by-ay)(px-ax)
    // de/dax = by - py, de/day = px - bx, de/dbx = py - ay, de/dby = ax - px
    const float gax = geF * (by - ev.fpy) + geO * (by - ev.opy);
    const float gay = geF * (ev.fpx - bx) + geO * (ev.opx - bx);
    const float gbx = geF * (ev.fpy - ay) + geO * (ev.opy - ay);
    const float gby = geF * (ax - ev.fpx) + geO * (ax - ev.opx);
    const float iwa = 1.0f / pa[3], iwb = 1.0f / pb[3];
    gA[0] = gax * hw * iwa; gA[1] = gay * hh * iwa; gA[2] = 0.0f;
    gA[3] = -(gax * hw * pa[0] + gay * hh * pa[1]) * iwa * iwa;
    gB[0] = gbx * hw * iwb; gB[1] = gby * hh * iwb; gB[2] = 0.0f;
    gB[3] = -(gbx * hw * pb[0] + gby * hh * pb[1]) * iwb * iwb;
}

}  // namespace a3d
