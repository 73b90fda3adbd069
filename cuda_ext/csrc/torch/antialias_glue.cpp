// Glue for antialias: checks, allocation, dispatch.
#include "glue.h"

namespace a3d {
namespace glue {

static AntialiasArgs make_args(const at::Tensor& color, const at::Tensor& rast, const at::Tensor& pos,
                               const at::Tensor& faces, const at::Tensor& topo) {
    A3D_CHECK_INPUT(color, at::kFloat);
    A3D_CHECK_INPUT(rast, at::kFloat);
    A3D_CHECK_INPUT(pos, at::kFloat);
    A3D_CHECK_INPUT(faces, at::kInt);
    A3D_CHECK_INPUT(topo, at::kInt);
    A3D_CHECK_SAME_DEVICE(color, rast);
    A3D_CHECK_SAME_DEVICE(color, pos);
    A3D_CHECK_SAME_DEVICE(color, faces);
    A3D_CHECK_SAME_DEVICE(color, topo);
    TORCH_CHECK(rast.dim() == 4 && rast.size(3) == 4, "rast must be [B, H, W, 4], got ", rast.sizes());
    TORCH_CHECK(color.dim() == 4 && color.size(0) == rast.size(0) && color.size(1) == rast.size(1) &&
                    color.size(2) == rast.size(2),
                "color must be [B, H, W, C] matching rast, got ", color.sizes());
    TORCH_CHECK((pos.dim() == 2 && pos.size(1) == 4) || (pos.dim() == 3 && pos.size(0) == rast.size(0) && pos.size(2) == 4),
                "pos must be [V, 4] or [B, V, 4], got ", pos.sizes());
    TORCH_CHECK(faces.dim() == 2 && faces.size(1) == 3, "faces must be [F, 3]");
    TORCH_CHECK(topo.sizes() == faces.sizes(), "topology must match faces");
    const bool pb = pos.dim() == 3;
    AntialiasArgs a{};
    a.color = color.data_ptr<float>();
    a.rast = rast.data_ptr<float>();
    a.pos = pos.data_ptr<float>();
    a.faces = faces.data_ptr<int32_t>();
    a.topo = topo.data_ptr<int32_t>();
    a.B = (int)color.size(0); a.H = (int)color.size(1); a.W = (int)color.size(2); a.C = (int)color.size(3);
    a.V = (int)pos.size(pb ? 1 : 0); a.F = (int)faces.size(0);
    a.pos_batched = pb ? 1 : 0;
    return a;
}

at::Tensor antialias_fwd(const at::Tensor& color, const at::Tensor& rast, const at::Tensor& pos,
                         const at::Tensor& faces, const at::Tensor& topo) {
    AntialiasArgs a = make_args(color, rast, pos, faces, topo);
    auto out = pooled_empty_like(color);
    a.out = out.data_ptr<float>();
    dispatch(
        color, [&] { cpu::antialias_fwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::antialias_fwd(a, stream);
#endif
        });
    return out;
}

std::tuple<at::Tensor, at::Tensor> antialias_bwd(const at::Tensor& color, const at::Tensor& rast,
                                                 const at::Tensor& pos, const at::Tensor& faces,
                                                 const at::Tensor& topo, const at::Tensor& grad_out) {
    AntialiasArgs f = make_args(color, rast, pos, faces, topo);
    A3D_CHECK_INPUT(grad_out, at::kFloat);
    TORCH_CHECK(grad_out.sizes() == color.sizes(), "grad_out must match color");
    auto grad_color = pooled_empty_like(color);
    auto grad_pos = pooled_empty_like(pos);
    AntialiasGradArgs a{f.color, f.rast, f.pos, f.faces, f.topo, grad_out.data_ptr<float>(),
                        grad_color.data_ptr<float>(), grad_pos.data_ptr<float>(),
                        f.B, f.V, f.F, f.H, f.W, f.C, f.pos_batched};
    dispatch(
        color, [&] { cpu::antialias_bwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::antialias_bwd(a, stream);
#endif
        });
    return {grad_color, grad_pos};
}

}  // namespace glue
}  // namespace a3d
