// Rasterize (forward + backward) CUDA kernels.
// Forward: one thread per triangle scans its clipped bounding box and does an
// atomicMin on a packed 64-bit (depth bits << 32 | triangle id) key per pixel
// (nearest wins, ties -> lower id, exactly like the CPU kernel); a resolve pass
// then writes every output pixel once. Backward: one thread per pixel, atomics
// into grad_pos.
#include "../common/raster_math.h"
#include "kernels_cuda.h"
#include "launch_helpers.cuh"

namespace a3d {
namespace cuda {
namespace {

__global__ void raster_triangles(RasterizeArgs a) {
    const int64_t total = (int64_t)a.B * a.F;
    A3D_GRID_STRIDE(g, total) {
        const int b = (int)(g / a.F), f = (int)(g % a.F);
        const int32_t* fv = a.faces + 3 * (int64_t)f;
        const int i0 = fv[0], i1 = fv[1], i2 = fv[2];
        if (i0 < 0 || i0 >= a.V || i1 < 0 || i1 >= a.V || i2 < 0 || i2 >= a.V) continue;
        const float* pb = a.pos + (int64_t)b * a.V * 4;
        TriSetup t;
        if (!setup_triangle(pb + 4 * i0, pb + 4 * i1, pb + 4 * i2, a.H, a.W, t)) continue;
        unsigned long long* kb = a.keys + (int64_t)b * a.H * a.W;
        for (int y = t.y0; y <= t.y1; ++y) {
            const float py = (float)y + 0.5f;
            for (int x = t.x0; x <= t.x1; ++x) {
                float e0, e1, e2;
                edge_functions(t, (float)x + 0.5f, py, e0, e1, e2);
                if (!edges_inside(t, e0, e1, e2)) continue;
                const float z = fragment_depth(t, e0, e1, e2);
                if (!(z >= -1.0f && z <= 1.0f)) continue;
                atomicMin(kb + (int64_t)y * a.W + x, (unsigned long long)pack_key(z, (uint32_t)f));
            }
        }
    }
}

__global__ void resolve(RasterizeArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        float* o = a.rast + 4 * i;
        const unsigned long long k = a.keys[i];
        if (k == (unsigned long long)kEmptyKey) { o[0] = o[1] = o[2] = o[3] = 0.0f; continue; }
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const int pix = (int)(i % ((int64_t)a.H * a.W));
        const int y = pix / a.W, x = pix % a.W;
        const uint32_t f = (uint32_t)(k & 0xffffffffull);
        const int32_t* fv = a.faces + 3 * (int64_t)f;
        const float* pb = a.pos + (int64_t)b * a.V * 4;
        TriSetup t;
        setup_triangle(pb + 4 * fv[0], pb + 4 * fv[1], pb + 4 * fv[2], a.H, a.W, t);
        float e0, e1, e2, u, v;
        edge_functions(t, (float)x + 0.5f, (float)y + 0.5f, e0, e1, e2);
        perspective_uv(t, e0, e1, e2, u, v);
        o[0] = u; o[1] = v; o[2] = fragment_depth(t, e0, e1, e2); o[3] = (float)(f + 1);
    }
}

__global__ void raster_grad(RasterizeGradArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        const float* r = a.rast + 4 * i;
        const float id = r[3];
        if (!(id > 0.0f) || !(id <= (float)a.F)) continue;
        const float* gr = a.grad_rast + 4 * i;
        const float gu = gr[0], gv = gr[1], gz = gr[2];
        if (gu == 0.0f && gv == 0.0f && gz == 0.0f) continue;
        const int f = (int)id - 1;
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const int pix = (int)(i % ((int64_t)a.H * a.W));
        const int y = pix / a.W, x = pix % a.W;
        const int32_t* fv = a.faces + 3 * (int64_t)f;
        if (fv[0] < 0 || fv[0] >= a.V || fv[1] < 0 || fv[1] >= a.V || fv[2] < 0 || fv[2] >= a.V) continue;
        const float* pb = a.pos + (int64_t)b * a.V * 4;
        const float* p[3] = {pb + 4 * fv[0], pb + 4 * fv[1], pb + 4 * fv[2]};
        TriSetup t;
        if (!setup_triangle(p[0], p[1], p[2], a.H, a.W, t)) continue;
        float g[3][4];
        rasterize_grad_pixel(p, t, (float)x + 0.5f, (float)y + 0.5f, gu, gv, gz, a.H, a.W, g);
        float* gb = a.grad_pos + (int64_t)b * a.V * 4;
        for (int j = 0; j < 3; ++j)
            for (int c = 0; c < 4; ++c) atomicAdd(gb + 4 * fv[j] + c, g[j][c]);
    }
}

}  // namespace

void rasterize_fwd(const RasterizeArgs& a, void* stream) {
    cudaStream_t s = as_stream(stream);
    const int64_t npix = (int64_t)a.B * a.H * a.W;
    cudaMemsetAsync(a.keys, 0xff, sizeof(unsigned long long) * npix, s);
    raster_triangles<<<blocks_for((int64_t)a.B * a.F), kThreads, 0, s>>>(a);
    resolve<<<blocks_for(npix), kThreads, 0, s>>>(a);
}

void rasterize_bwd(const RasterizeGradArgs& a, void* stream) {
    cudaStream_t s = as_stream(stream);
    cudaMemsetAsync(a.grad_pos, 0, sizeof(float) * (size_t)a.B * a.V * 4, s);
    raster_grad<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, s>>>(a);
}

}  // namespace cuda
}  // namespace a3d
