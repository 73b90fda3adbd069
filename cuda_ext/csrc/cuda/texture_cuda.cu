// Texture sampling (forward + backward) CUDA kernels: one thread per pixel.
#include "../common/raster_math.h"
#include "kernels_cuda.h"
#include "launch_helpers.cuh"

namespace a3d {
namespace cuda {
namespace {

struct Taps {
    int64_t idx[4];
    float w[4], dwx[4], dwy[4];
    int n;
};

__device__ __forceinline__ void make_taps(int Ht, int Wt, int filter, int boundary, float u, float v, Taps& t) {
    const int wrap = boundary == kBoundaryWrap;
    const float uu = reduce_coord(u, wrap), vv = reduce_coord(v, wrap);
    if (filter == kFilterNearest) {
        const int ix = fix_index((int)floorf(uu * (float)Wt), Wt, wrap);
        const int iy = fix_index((int)floorf(vv * (float)Ht), Ht, wrap);
        t.n = 1; t.idx[0] = (int64_t)iy * Wt + ix; t.w[0] = 1.0f; t.dwx[0] = 0.0f; t.dwy[0] = 0.0f;
        return;
    }
    const float x = uu * (float)Wt - 0.5f, y = vv * (float)Ht - 0.5f;
    const float fx0 = floorf(x), fy0 = floorf(y);
    const float fx = x - fx0, fy = y - fy0;
    const int x0 = (int)fx0, y0 = (int)fy0;
    const int xa = fix_index(x0, Wt, wrap), xb = fix_index(x0 + 1, Wt, wrap);
    const int ya = fix_index(y0, Ht, wrap), yb = fix_index(y0 + 1, Ht, wrap);
    t.n = 4;
    t.idx[0] = (int64_t)ya * Wt + xa; t.w[0] = (1.0f - fx) * (1.0f - fy);
    t.idx[1] = (int64_t)ya * Wt + xb; t.w[1] = fx * (1.0f - fy);
    t.idx[2] = (int64_t)yb * Wt + xa; t.w[2] = (1.0f - fx) * fy;
    t.idx[3] = (int64_t)yb * Wt + xb; t.w[3] = fx * fy;
    const float cu = (!wrap && (u < -1.0f || u > 2.0f)) ? 0.0f : (float)Wt;
    const float cv = (!wrap && (v < -1.0f || v > 2.0f)) ? 0.0f : (float)Ht;
    t.dwx[0] = -(1.0f - fy) * cu; t.dwx[1] = (1.0f - fy) * cu; t.dwx[2] = -fy * cu; t.dwx[3] = fy * cu;
    t.dwy[0] = -(1.0f - fx) * cv; t.dwy[1] = -fx * cv; t.dwy[2] = (1.0f - fx) * cv; t.dwy[3] = fx * cv;
}

__global__ void tex_fwd(TextureArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    const int64_t tex_view = (int64_t)a.Ht * a.Wt * a.C;
    A3D_GRID_STRIDE(i, n) {
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const float* tb = a.tex + (a.Bt == 1 ? 0 : (int64_t)b * tex_view);
        Taps t;
        make_taps(a.Ht, a.Wt, a.filter, a.boundary, a.uv[2 * i], a.uv[2 * i + 1], t);
        float* o = a.out + i * a.C;
        for (int c = 0; c < a.C; ++c) {
            float s = 0.0f;
            for (int k = 0; k < t.n; ++k) s += t.w[k] * tb[t.idx[k] * a.C + c];
            o[c] = s;
        }
    }
}

__global__ void tex_bwd(TextureGradArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    const int64_t tex_view = (int64_t)a.Ht * a.Wt * a.C;
    A3D_GRID_STRIDE(i, n) {
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const int64_t toff = a.Bt == 1 ? 0 : (int64_t)b * tex_view;
        const float* tb = a.tex + toff;
        float* gt = a.grad_tex + toff;
        Taps t;
        make_taps(a.Ht, a.Wt, a.filter, a.boundary, a.uv[2 * i], a.uv[2 * i + 1], t);
        const float* go = a.grad_out + i * a.C;
        float gu = 0.0f, gv = 0.0f;
        for (int k = 0; k < t.n; ++k) {
            float dot = 0.0f;
            for (int c = 0; c < a.C; ++c) {
                const float g = go[c];
                if (g != 0.0f) atomicAdd(gt + t.idx[k] * a.C + c, t.w[k] * g);
                dot += g * tb[t.idx[k] * a.C + c];
            }
            gu += t.dwx[k] * dot;
            gv += t.dwy[k] * dot;
        }
        a.grad_uv[2 * i] = gu;
        a.grad_uv[2 * i + 1] = gv;
    }
}

}  // namespace

void texture_fwd(const TextureArgs& a, void* stream) {
    tex_fwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, as_stream(stream)>>>(a);
}

void texture_bwd(const TextureGradArgs& a, void* stream) {
    cudaStream_t s = as_stream(stream);
    cudaMemsetAsync(a.grad_tex, 0, sizeof(float) * (size_t)a.Bt * a.Ht * a.Wt * a.C, s);
    tex_bwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, s>>>(a);
}

}  // namespace cuda
}  // namespace a3d
