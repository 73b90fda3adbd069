// CUDA launchers. Plain structs in (device pointers), no torch types, so the
// .cu files compile with nvcc alone. `stream` is a cudaStream_t passed as void*.
#pragma once

#include "../common/op_args.h"

namespace a3d {
namespace cuda {

void rasterize_fwd(const RasterizeArgs& a, void* stream);
void rasterize_bwd(const RasterizeGradArgs& a, void* stream);
void interpolate_fwd(const InterpolateArgs& a, void* stream);
void interpolate_bwd(const InterpolateGradArgs& a, void* stream);
void texture_fwd(const TextureArgs& a, void* stream);
void texture_bwd(const TextureGradArgs& a, void* stream);
void antialias_fwd(const AntialiasArgs& a, void* stream);
void antialias_bwd(const AntialiasGradArgs& a, void* stream);

}  // namespace cuda
}  // namespace a3d
