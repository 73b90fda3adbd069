// Texture sampling (nearest / bilinear, wrap / clamp), forward + backward, CPU.
#include <cstring>

#include "../common/raster_math.h"
#include "kernels_cpu.h"
#include "parallel_cpu.h"

namespace a3d {
namespace cpu {

static inline void atomic_add(float* p, float v) {
    // CAS loop on the float's bits (GCC/Clang builtins; no C++20 needed).
    uint32_t* ip = reinterpret_cast<uint32_t*>(p);
    uint32_t old = __atomic_load_n(ip, __ATOMIC_RELAXED), nw;
    do {
        float f;
        std::memcpy(&f, &old, 4);
        f += v;
        std::memcpy(&nw, &f, 4);
    } while (!__atomic_compare_exchange_n(ip, &old, nw, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

struct Taps {
    int64_t idx[4];  // texel offsets (in texels) into the texture of this view
    float w[4];      // weights
    float dwx[4], dwy[4];  // d weight / d u, d weight / d v
    int n;
};

static inline void make_taps(const TextureArgs& a, float u, float v, Taps& t) {
    const int wrap = a.boundary == kBoundaryWrap;
    const float uu = reduce_coord(u, wrap), vv = reduce_coord(v, wrap);
    if (a.filter == kFilterNearest) {
        const int ix = fix_index((int)floorf(uu * (float)a.Wt), a.Wt, wrap);
        const int iy = fix_index((int)floorf(vv * (float)a.Ht), a.Ht, wrap);
        t.n = 1;
        t.idx[0] = (int64_t)iy * a.Wt + ix;
        t.w[0] = 1.0f; t.dwx[0] = 0.0f; t.dwy[0] = 0.0f;
        return;
    }
    const float x = uu * (float)a.Wt - 0.5f, y = vv * (float)a.Ht - 0.5f;
    const float fx0 = floorf(x), fy0 = floorf(y);
    const float fx = x - fx0, fy = y - fy0;
    const int x0 = (int)fx0, y0 = (int)fy0;
    const int xa = fix_index(x0, a.Wt, wrap), xb = fix_index(x0 + 1, a.Wt, wrap);
    const int ya = fix_index(y0, a.Ht, wrap), yb = fix_index(y0 + 1, a.Ht, wrap);
    t.n = 4;
    t.idx[0] = (int64_t)ya * a.Wt + xa; t.w[0] = (1.0f - fx) * (1.0f - fy);
    t.idx[1] = (int64_t)ya * a.Wt + xb; t.w[1] = fx * (1.0f - fy);
    t.idx[2] = (int64_t)yb * a.Wt + xa; t.w[2] = (1.0f - fx) * fy;
    t.idx[3] = (int64_t)yb * a.Wt + xb; t.w[3] = fx * fy;
    // d/du = Wt * d/dfx (only where u is not clamped; clamped taps coincide anyway)
    const float sx = (float)a.Wt, sy = (float)a.Ht;
    const float cu = (!wrap && (u < -1.0f || u > 2.0f)) ? 0.0f : sx;
    const float cv = (!wrap && (v < -1.0f || v > 2.0f)) ? 0.0f : sy;
    t.dwx[0] = -(1.0f - fy) * cu; t.dwx[1] = (1.0f - fy) * cu; t.dwx[2] = -fy * cu; t.dwx[3] = fy * cu;
    t.dwy[0] = -(1.0f - fx) * cv; t.dwy[1] = -fx * cv; t.dwy[2] = (1.0f - fx) * cv; t.dwy[3] = fx * cv;
}

void texture_fwd(const TextureArgs& a) {
    const int H = a.H, W = a.W, C = a.C;
    const int64_t rows = (int64_t)a.B * H;
    const int64_t tex_view = (int64_t)a.Ht * a.Wt * C;
    parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int b = (int)(r / H);
            const float* tb = a.tex + (a.Bt == 1 ? 0 : (int64_t)b * tex_view);
            const float* uv = a.uv + r * W * 2;
            float* o = a.out + r * W * C;
            for (int x = 0; x < W; ++x, o += C) {
                Taps t;
                make_taps(a, uv[2 * x], uv[2 * x + 1], t);
                for (int c = 0; c < C; ++c) o[c] = 0.0f;
                for (int k = 0; k < t.n; ++k) {
                    const float* tx = tb + t.idx[k] * C;
                    for (int c = 0; c < C; ++c) o[c] += t.w[k] * tx[c];
                }
            }
        }
    });
}

void texture_bwd(const TextureGradArgs& g) {
    TextureArgs a{g.tex, g.uv, nullptr, g.B, g.Bt, g.Ht, g.Wt, g.C, g.H, g.W, g.filter, g.boundary};
    const int H = a.H, W = a.W, C = a.C;
    const int64_t rows = (int64_t)a.B * H;
    const int64_t tex_view = (int64_t)a.Ht * a.Wt * C;
    std::memset(g.grad_tex, 0, sizeof(float) * tex_view * a.Bt);
    parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int b = (int)(r / H);
            const int64_t toff = a.Bt == 1 ? 0 : (int64_t)b * tex_view;
            const float* tb = a.tex + toff;
            float* gt = g.grad_tex + toff;
            const float* uv = a.uv + r * W * 2;
            const float* go = g.grad_out + r * W * C;
            float* guv = g.grad_uv + r * W * 2;
            for (int x = 0; x < W; ++x) {
                Taps t;
                make_taps(a, uv[2 * x], uv[2 * x + 1], t);
                const float* gx = go + (int64_t)x * C;
                float gu = 0.0f, gv = 0.0f;
                for (int k = 0; k < t.n; ++k) {
                    const float* tx = tb + t.idx[k] * C;
                    float* gtx = gt + t.idx[k] * C;
                    float dot = 0.0f;
                    for (int c = 0; c < C; ++c) {
                        if (gx[c] != 0.0f) atomic_add(gtx + c, t.w[k] * gx[c]);
                        dot += gx[c] * tx[c];
                    }
                    gu += t.dwx[k] * dot;
                    gv += t.dwy[k] * dot;
                }
                guv[2 * x] = gu;
                guv[2 * x + 1] = gv;
            }
        }
    });
}

}  // namespace cpu
}  // namespace a3d
