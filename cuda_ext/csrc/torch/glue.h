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

using OptTensor = c10::optional<at::Tensor>;

// Coverage spans (see op_args.h) for a CPU kernel: int32 [rows, 2], or nullptr.
inline const int32_t* spans_ptr(const OptTensor& spans, int64_t rows, const at::Tensor& like) {
    if (!spans.has_value() || !spans->defined() || !like.device().is_cpu()) return nullptr;
    const at::Tensor& s = *spans;
    TORCH_CHECK(s.scalar_type() == at::kInt && s.is_contiguous() && s.device().is_cpu() && s.dim() == 2 &&
                    s.size(0) == rows && s.size(1) == 2,
                "spans must be a contiguous int32 CPU tensor [", rows, ", 2], got ", s.sizes());
    return s.data_ptr<int32_t>();
}

// rasterize: pos [B,V,4] f32, faces [F,3] i32 -> rast [B,H,W,4]
at::Tensor rasterize_fwd(const at::Tensor& pos, const at::Tensor& faces, int64_t height, int64_t width);
at::Tensor rasterize_bwd(const at::Tensor& pos, const at::Tensor& faces, const at::Tensor& rast,
                         const at::Tensor& grad_rast, const OptTensor& spans);
// CPU: rast and its coverage spans int32 [B * H, 2]
std::tuple<at::Tensor, at::Tensor> rasterize_fwd_spans(const at::Tensor& pos, const at::Tensor& faces,
                                                       int64_t height, int64_t width);
// interpolate: attr [B,V,C] or [V,C], rast [B,H,W,4], faces -> [B,H,W,C]
at::Tensor interpolate_fwd(const at::Tensor& attr, const at::Tensor& rast, const at::Tensor& faces,
                           const OptTensor& spans);
// want_attr / want_rast false (CPU): that output is an empty tensor (not computed)
std::tuple<at::Tensor, at::Tensor> interpolate_bwd(const at::Tensor& attr, const at::Tensor& rast,
                                                   const at::Tensor& faces, const at::Tensor& grad_out,
                                                   const OptTensor& spans, bool want_attr, bool want_rast,
                                                   bool rast_grad_in_spans, const OptTensor& override_pix,
                                                   const OptTensor& override_val);
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
// antialias, CPU eager path: the forward records its blends; the backward replays them.
std::tuple<at::Tensor, at::Tensor> antialias_fwd_events(const at::Tensor& color, const at::Tensor& rast,
                                                        const at::Tensor& pos, const at::Tensor& faces,
                                                        const at::Tensor& topo, const OptTensor& spans,
                                                        bool color_zero_outside);
std::tuple<at::Tensor, at::Tensor> antialias_bwd_events(const at::Tensor& color, const at::Tensor& pos,
                                                        const at::Tensor& events, const at::Tensor& grad_out,
                                                        bool want_color, bool want_pos);
// CPU: antialias's colour gradient as overrides of grad_out (pixels int64 [n], values
// [n, C]; see InterpolateGradArgs) and, when want_pos, the position gradient
std::tuple<at::Tensor, at::Tensor, at::Tensor> antialias_grad_overrides(const at::Tensor& color, const at::Tensor& pos,
                                                                        const at::Tensor& events,
                                                                        const at::Tensor& grad_out, bool want_pos);

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
