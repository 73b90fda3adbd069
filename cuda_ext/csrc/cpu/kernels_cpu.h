// CPU kernels (multithreaded with ATen's intra-op thread pool). Plain structs in,
// no tensors: the torch glue in csrc/torch does the checks and allocation.
#pragma once

#include <vector>

#include "../common/op_args.h"

namespace a3d {
namespace cpu {

void rasterize_fwd(const RasterizeArgs& a);
void rasterize_bwd(const RasterizeGradArgs& a);
void interpolate_fwd(const InterpolateArgs& a);
void interpolate_bwd(const InterpolateGradArgs& a);
void texture_fwd(const TextureArgs& a);
void texture_bwd(const TextureGradArgs& a);
// events != nullptr: also records every blend (in a deterministic order) for
// antialias_bwd_events().
void antialias_fwd(const AntialiasArgs& a, std::vector<AAEventRec>* events = nullptr);
void antialias_bwd_events(const AntialiasEventGradArgs& a);
void antialias_grad_overrides(const AntialiasEventGradArgs& a, std::vector<int64_t>& pix, std::vector<float>& val);
void antialias_bwd(const AntialiasGradArgs& a);

}  // namespace cpu
}  // namespace a3d
