// Torch glue: argument checks + dispatch to the CPU kernels or CUDA launchers.
// One glue file per op; bindings.cpp lists them all.
#pragma once

#include <torch/extension.h>

#include <tuple>

#include "buffer_pool.h"
#include "../common/op_args.h"
#include "../common/raster_math.h"
#include "../cpu/kernels_cpu.h"
#ifdef A3D_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include "../cuda/kernels_cuda.h"
#endif

#define A3D_CHECK_INPUT(x, dt)                                                             \
    TORCH_CHECK((x).scalar_type() == (dt), #x " must have dtype " #dt ", got ",          \
                (x).scalar_type());                                                        \
    TORCH_CHECK((x).is_contiguous(), #x " must be contiguous")

#define A3D_CHECK_SAME_DEVICE(a, b) \
    TORCH_CHECK((a).device() == (b).device(), #a " and " #b " must be on the same device")

namespace a3d {
namespace glue {

// rasterize: pos [B,V,4] f32, faces [F,3] i32 -> rast [B,H,W,4]
at::Tensor rasterize_fwd(const at::Tensor& pos, const at::Tensor& faces, int64_t height, int64_t width);
at::Tensor rasterize_bwd(const at::Tensor& pos, const at::Tensor& faces, const at::Tensor& rast,
                         const at::Tensor& grad_rast);
// interpolate: attr [B,V,C] or [V,C], rast [B,H,W,4], faces -> [B,H,W,C]
at::Tensor interpolate_fwd(const at::Tensor& attr, const at::Tensor& rast, const at::Tensor& faces);
std::tuple<at::Tensor, at::Tensor> interpolate_bwd(const at::Tensor& attr, const at::Tensor& rast,
                                                   const at::Tensor& faces, const at::Tensor& grad_out);
// texture: tex [Bt,Ht,Wt,C], uv [B,H,W,2] -> [B,H,W,C]; filter 0 nearest 1 bilinear; boundary 0 clamp 1 wrap
at::Tensor texture_fwd(const at::Tensor& tex, const at::Tensor& uv, int64_t filter, int64_t boundary);
std::tuple<at::Tensor, at::Tensor> texture_bwd(const at::Tensor& tex, const at::Tensor& uv,
                                               const at::Tensor& grad_out, int64_t filter, int64_t boundary);
// antialias: color [B,H,W,C], rast, pos [B,V,4] or [V,4], faces, topo [F,3] -> [B,H,W,C]
at::Tensor antialias_fwd(const at::Tensor& color, const at::Tensor& rast, const at::Tensor& pos,
                         const at::Tensor& faces, const at::Tensor& topo);
std::tuple<at::Tensor, at::Tensor> antialias_bwd(const at::Tensor& color, const at::Tensor& rast,
                                                 const at::Tensor& pos, const at::Tensor& faces,
                                                 const at::Tensor& topo, const at::Tensor& grad_out);

bool has_cuda();

inline void* current_stream() {
#ifdef A3D_WITH_CUDA
    return (void*)c10::cuda::getCurrentCUDAStream().stream();
#else
    return nullptr;
#endif
}

// Dispatch helper: run `cpu` for CPU tensors, `gpu` for CUDA tensors.
template <class FC, class FG>
inline void dispatch(const at::Tensor& t, const FC& cpu, const FG& gpu) {
    if (t.is_cuda()) {
#ifdef A3D_WITH_CUDA
        const at::OptionalDeviceGuard guard(t.device());
        gpu(current_stream());
#else
        (void)gpu;
        TORCH_CHECK(false, "avatar3d.ops._C was built without CUDA kernels");
#endif
    } else {
        TORCH_CHECK(t.device().is_cpu(), "unsupported device ", t.device());
        cpu();
    }
}

}  // namespace glue
}  // namespace a3d
