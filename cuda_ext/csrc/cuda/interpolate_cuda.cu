// Interpolate (forward + backward) CUDA kernels: one thread per pixel.
#include "../common/raster_math.h"
#include "kernels_cuda.h"
#include "launch_helpers.cuh"

namespace a3d {
namespace cuda {
namespace {

__device__ __forceinline__ bool pixel_face(const float* r, const int32_t* faces, int F, int V, const int32_t*& fv) {
    const float id = r[3];
    if (!(id > 0.0f) || !(id <= (float)F)) return false;
    fv = faces + 3 * (int64_t)((int)id - 1);
    return face_in_range(fv, V);
}

__global__ void interp_fwd(InterpolateArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const float* r = a.rast + 4 * i;
        float* o = a.out + i * a.C;
        const int32_t* fv;
        if (!pixel_face(r, a.faces, a.F, a.V, fv)) {
            for (int c = 0; c < a.C; ++c) o[c] = 0.0f;
            continue;
        }
        const float* ab = a.attr + (a.attr_batched ? (int64_t)b * a.V * a.C : 0);
        const float u = r[0], v = r[1], w0 = 1.0f - u - v;
        const float* a0 = ab + (int64_t)fv[0] * a.C;
        const float* a1 = ab + (int64_t)fv[1] * a.C;
        const float* a2 = ab + (int64_t)fv[2] * a.C;
        for (int c = 0; c < a.C; ++c) o[c] = a0[c] * w0 + a1[c] * u + a2[c] * v;
    }
}

__global__ void interp_bwd(InterpolateGradArgs a) {
    const int64_t n = (int64_t)a.B * a.H * a.W;
    A3D_GRID_STRIDE(i, n) {
        const int b = (int)(i / ((int64_t)a.H * a.W));
        const float* r = a.rast + 4 * i;
        float* gp = a.grad_rast + 4 * i;
        gp[0] = gp[1] = gp[2] = gp[3] = 0.0f;
        const int32_t* fv;
        if (!pixel_face(r, a.faces, a.F, a.V, fv)) continue;
        const int64_t aoff = a.attr_batched ? (int64_t)b * a.V * a.C : 0;
        const float* ab = a.attr + aoff;
        float* gb = a.grad_attr + aoff;
        const float u = r[0], v = r[1], w0 = 1.0f - u - v;
        const float* go = a.grad_out + i * a.C;
        float gu = 0.0f, gv = 0.0f;
        for (int c = 0; c < a.C; ++c) {
            const float g = go[c];
            const float a0 = ab[(int64_t)fv[0] * a.C + c];
            const float a1 = ab[(int64_t)fv[1] * a.C + c];
            const float a2 = ab[(int64_t)fv[2] * a.C + c];
            if (g != 0.0f) {
                atomicAdd(gb + (int64_t)fv[0] * a.C + c, g * w0);
                atomicAdd(gb + (int64_t)fv[1] * a.C + c, g * u);
                atomicAdd(gb + (int64_t)fv[2] * a.C + c, g * v);
            }
            gu += g * (a1 - a0);
            gv += g * (a2 - a0);
        }
        gp[0] = gu; gp[1] = gv;
    }
}

}  // namespace

void interpolate_fwd(const InterpolateArgs& a, void* stream) {
    interp_fwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, as_stream(stream)>>>(a);
}

void interpolate_bwd(const InterpolateGradArgs& a, void* stream) {
    cudaStream_t s = as_stream(stream);
    const int64_t nattr = (a.attr_batched ? (int64_t)a.B : 1) * a.V * a.C;
    cudaMemsetAsync(a.grad_attr, 0, sizeof(float) * nattr, s);
    interp_bwd<<<blocks_for((int64_t)a.B * a.H * a.W), kThreads, 0, s>>>(a);
}

}  // namespace cuda
}  // namespace a3d
