// Antialias (forward + backward) CUDA kernels: one thread per output pixel,
// evaluating the (up to four) pixel pairs it belongs to with aa_pair() from
// common/raster_math.h, exactly like the CPU kernel.
#include "../common/raster_math.h"
#include "kernels_cuda.h"
#include "launch_helpers.cuh"

namespace a3d {
namespace cuda {
namespace {

struct PairRef { int py, px, dy, dx, self; };

__device__ __forceinline__ bool eval_pair(const float* rast, const float* pos, const int32_t* faces,
                                          const int32_t* topo, int V, int F, int H, int W, const PairRef& p,
                                          AAEvent& ev) {
    const float* rP = rast + ((int64_t)p.py * W + p.px) * 4;
    const float* rQ = rast + ((int64_t)(p.py + p.dy) * W + (p.px + p.dx)) * 4;
    if (rP[3] == rQ[3]) return false;
    return aa_pair(ClipVerts{pos, H, W}, faces, topo, V, F, rP[3], rQ[3], rP[2], rQ[2], (float)p.px + 0.5f,
                   (float)p.py + 0.5f, (float)(p.px + p.dx) + 0.5f, (float)(p.py + p.dy) + 0.5f, ev);
}

__device__ __forceinline__ int make_pairs(const float* rast, int H, int W, int y, int x, PairRef pr[4]) {
    const float id = rast[((int64_t)y * W + x) * 4 + 3];
    int n = 0;
    if (x > 0 && rast[((int64_t)y * W + x - 1) * 4 + 3] != id) pr[n++] = {y, x - 1, 0, 1, 1};
    if (x + 1 < W && rast[((int64_t)y * W + x + 1) * 4 + 3] != id) pr[n++] = {y, x, 0, 1, 0};
    if (y > 0 && rast[((int64_t)(y - 1) * W + x) * 4 + 3] != id) pr[n++] = {y - 1, x, 1, 0, 1};
    if (y + 1 < H && rast[((int64_t)(y + 1) * W + x) * 4 + 3] != id) pr[n++] = {y, x, 1, 0, 0};
    return n;
}

__global__ void aa_fwd(AntialiasArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        const int64_t HW = (int64_t)a.H * a.W;
        const int b = (int)(i / HW);
        const int pix = (int)(i % HW);
        const int y = pix / a.W, x = pix % a.W;
        const float* rast = a.rast + (int64_t)b * HW * 4;
        const float* pos = a.pos + (a.pos_batched ? (int64_t)b * a.V * 4 : 0);
        const float* col = a.color + (int64_t)b * HW * a.C;
        float* o = a.out + i * a.C;
        const float* cs = col + (int64_t)pix * a.C;
        for (int c = 0; c < a.C; ++c) o[c] = cs[c];
        PairRef pr[4];
        const int np = make_pairs(rast, a.H, a.W, y, x, pr);
        for (int k = 0; k < np; ++k) {
            AAEvent ev;
            if (!eval_pair(rast, pos, a.faces, a.topo, a.V, a.F, a.H, a.W, pr[k], ev)) continue;
            if (ev.target != pr[k].self) continue;
            const int oy = pr[k].self ? pr[k].py : pr[k].py + pr[k].dy;
            const int ox = pr[k].self ? pr[k].px : pr[k].px + pr[k].dx;
            const float* co = col + ((int64_t)oy * a.W + ox) * a.C;
            for (int c = 0; c < a.C; ++c) o[c] += ev.alpha * (co[c] - cs[c]);
        }
    }
}

__global__ void aa_bwd(AntialiasGradArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        const int64_t HW = (int64_t)a.H * a.W;
        const int b = (int)(i / HW);
        const int pix = (int)(i % HW);
        const int y = pix / a.W, x = pix % a.W;
        const float* rast = a.rast + (int64_t)b * HW * 4;
        const int64_t poff = a.pos_batched ? (int64_t)b * a.V * 4 : 0;
        const float* pos = a.pos + poff;
        float* gpos = a.grad_pos + poff;
        const float* col = a.color + (int64_t)b * HW * a.C;
        const float* gout = a.grad_out + (int64_t)b * HW * a.C;
        float* g = a.grad_color + i * a.C;
        const float* cs = col + (int64_t)pix * a.C;
        const float* gs = gout + (int64_t)pix * a.C;
        for (int c = 0; c < a.C; ++c) g[c] = gs[c];
        PairRef pr[4];
        const int np = make_pairs(rast, a.H, a.W, y, x, pr);
        for (int k = 0; k < np; ++k) {
            AAEvent ev;
            if (!eval_pair(rast, pos, a.faces, a.topo, a.V, a.F, a.H, a.W, pr[k], ev)) continue;
            const int oy = pr[k].self ? pr[k].py : pr[k].py + pr[k].dy;
            const int ox = pr[k].self ? pr[k].px : pr[k].px + pr[k].dx;
            const float* co = col + ((int64_t)oy * a.W + ox) * a.C;
            if (ev.target == pr[k].self) {
                float dot = 0.0f;
                for (int c = 0; c < a.C; ++c) {
                    g[c] -= ev.alpha * gs[c];
                    dot += gs[c] * (co[c] - cs[c]);
                }
                if (dot != 0.0f) {
                    float gA[4], gB[4];
                    aa_pair_grad(pos + 4 * ev.va, pos + 4 * ev.vb, ev, dot, a.H, a.W, gA, gB);
                    for (int c = 0; c < 4; ++c) {
                        atomicAdd(gpos + 4 * ev.va + c, gA[c]);
                        atomicAdd(gpos + 4 * ev.vb + c, gB[c]);
                    }
                }
            } else {
                const float* go = gout + ((int64_t)oy * a.W + ox) * a.C;
                for (int c = 0; c < a.C; ++c) g[c] += ev.alpha * go[c];
            }
        }
    }
}

}  // namespace

void antialias_fwd(const AntialiasArgs& a, void* stream) {
    aa_fwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, as_stream(stream)>>>(a);
}

void antialias_bwd(const AntialiasGradArgs& a, void* stream) {
    cudaStream_t s = as_stream(stream);
    const int64_t npos = (a.pos_batched ? (int64_t)a.B : 1) * a.V * 4;
    cudaMemsetAsync(a.grad_pos, 0, sizeof(float) * npos, s);
    aa_bwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, s>>>(a);
}

}  // namespace cuda
}  // namespace a3d
