// Small helpers shared by the CUDA kernels (no torch headers).
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

namespace a3d {
namespace cuda {

constexpr int kThreads = 256;

inline unsigned int blocks_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned int)(b < 1 ? 1 : (b > 2147483647LL ? 2147483647LL : b));
}

inline cudaStream_t as_stream(void* s) { return reinterpret_cast<cudaStream_t>(s); }

#define A3D_GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

}  // namespace cuda
}  // namespace a3d
