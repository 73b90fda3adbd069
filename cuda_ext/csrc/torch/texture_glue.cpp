// Glue for texture: checks, allocation, dispatch.
#include "glue.h"

namespace a3d {
namespace glue {

static TextureArgs make_args(const at::Tensor& tex, const at::Tensor& uv, int64_t filter, int64_t boundary) {
    A3D_CHECK_INPUT(tex, at::kFloat);
    A3D_CHECK_INPUT(uv, at::kFloat);
    A3D_CHECK_SAME_DEVICE(tex, uv);
    TORCH_CHECK(tex.dim() == 4, "tex must be [B, Ht, Wt, C], got ", tex.sizes());
    TORCH_CHECK(uv.dim() == 4 && uv.size(3) == 2, "uv must be [B, H, W, 2], got ", uv.sizes());
    TORCH_CHECK(tex.size(0) == 1 || tex.size(0) == uv.size(0), "tex batch must be 1 or match uv");
    TORCH_CHECK(filter == kFilterNearest || filter == kFilterBilinear, "bad filter ", filter);
    TORCH_CHECK(boundary == kBoundaryClamp || boundary == kBoundaryWrap, "bad boundary ", boundary);
    TextureArgs a{};
    a.tex = tex.data_ptr<float>();
    a.uv = uv.data_ptr<float>();
    a.B = (int)uv.size(0); a.H = (int)uv.size(1); a.W = (int)uv.size(2);
    a.Bt = (int)tex.size(0); a.Ht = (int)tex.size(1); a.Wt = (int)tex.size(2); a.C = (int)tex.size(3);
    a.filter = (int)filter; a.boundary = (int)boundary;
    return a;
}

at::Tensor texture_fwd(const at::Tensor& tex, const at::Tensor& uv, int64_t filter, int64_t boundary) {
    TextureArgs a = make_args(tex, uv, filter, boundary);
    auto out = pooled_empty({a.B, a.H, a.W, a.C}, tex.options());
    a.out = out.data_ptr<float>();
    dispatch(
        tex, [&] { cpu::texture_fwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::texture_fwd(a, stream);
#endif
        });
    return out;
}

std::tuple<at::Tensor, at::Tensor> texture_bwd(const at::Tensor& tex, const at::Tensor& uv,
                                               const at::Tensor& grad_out, int64_t filter, int64_t boundary) {
    TextureArgs f = make_args(tex, uv, filter, boundary);
    A3D_CHECK_INPUT(grad_out, at::kFloat);
    TORCH_CHECK(grad_out.dim() == 4 && grad_out.size(0) == f.B && grad_out.size(1) == f.H &&
                    grad_out.size(2) == f.W && grad_out.size(3) == f.C,
                "grad_out has the wrong shape ", grad_out.sizes());
    auto grad_tex = pooled_empty_like(tex);
    auto grad_uv = pooled_empty_like(uv);
    TextureGradArgs a{f.tex, f.uv, grad_out.data_ptr<float>(), grad_tex.data_ptr<float>(), grad_uv.data_ptr<float>(),
                      f.B, f.Bt, f.Ht, f.Wt, f.C, f.H, f.W, f.filter, f.boundary};
    dispatch(
        tex, [&] { cpu::texture_bwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::texture_bwd(a, stream);
#endif
        });
    return {grad_tex, grad_uv};
}

}  // namespace glue
}  // namespace a3d
