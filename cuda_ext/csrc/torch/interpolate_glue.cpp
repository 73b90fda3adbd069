// Glue for interpolate: checks, allocation, dispatch.
#include "glue.h"

namespace a3d {
namespace glue {

static InterpolateArgs make_args(const at::Tensor& attr, const at::Tensor& rast, const at::Tensor& faces) {
    A3D_CHECK_INPUT(attr, at::kFloat);
    A3D_CHECK_INPUT(rast, at::kFloat);
    A3D_CHECK_INPUT(faces, at::kInt);
    A3D_CHECK_SAME_DEVICE(attr, rast);
    A3D_CHECK_SAME_DEVICE(attr, faces);
    TORCH_CHECK(rast.dim() == 4 && rast.size(3) == 4, "rast must be [B, H, W, 4], got ", rast.sizes());
    TORCH_CHECK(faces.dim() == 2 && faces.size(1) == 3, "faces must be [F, 3], got ", faces.sizes());
    TORCH_CHECK(attr.dim() == 2 || (attr.dim() == 3 && attr.size(0) == rast.size(0)),
                "attr must be [V, C] or [B, V, C], got ", attr.sizes());
    const bool batched = attr.dim() == 3;
    InterpolateArgs a{};
    a.attr = attr.data_ptr<float>();
    a.rast = rast.data_ptr<float>();
    a.faces = faces.data_ptr<int32_t>();
    a.B = (int)rast.size(0); a.H = (int)rast.size(1); a.W = (int)rast.size(2);
    a.V = (int)attr.size(batched ? 1 : 0); a.C = (int)attr.size(batched ? 2 : 1);
    a.F = (int)faces.size(0);
    a.attr_batched = batched ? 1 : 0;
    return a;
}

at::Tensor interpolate_fwd(const at::Tensor& attr, const at::Tensor& rast, const at::Tensor& faces,
                           const OptTensor& spans) {
    InterpolateArgs a = make_args(attr, rast, faces);
    a.spans = spans_ptr(spans, (int64_t)a.B * a.H, attr);
    auto out = pooled_empty({a.B, a.H, a.W, a.C}, attr.options());
    a.out = out.data_ptr<float>();
    dispatch(
        attr, [&] { cpu::interpolate_fwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::interpolate_fwd(a, stream);
#endif
        });
    return out;
}

std::tuple<at::Tensor, at::Tensor> interpolate_bwd(const at::Tensor& attr, const at::Tensor& rast,
                                                   const at::Tensor& faces, const at::Tensor& grad_out,
                                                   const OptTensor& spans, bool want_attr, bool want_rast,
                                                   bool rast_grad_in_spans, const OptTensor& override_pix,
                                                   const OptTensor& override_val) {
    InterpolateArgs f = make_args(attr, rast, faces);
    A3D_CHECK_INPUT(grad_out, at::kFloat);
    TORCH_CHECK(grad_out.dim() == 4 && grad_out.size(0) == f.B && grad_out.size(1) == f.H &&
                    grad_out.size(2) == f.W && grad_out.size(3) == f.C,
                "grad_out has the wrong shape ", grad_out.sizes());
    if (attr.is_cuda()) want_attr = want_rast = true;   // the CUDA kernels write both
    auto grad_attr = want_attr ? pooled_empty_like(attr) : at::empty({0}, attr.options());
    auto grad_rast = want_rast ? pooled_empty_like(rast) : at::empty({0}, rast.options());
    InterpolateGradArgs a{f.attr, f.rast, f.faces, grad_out.data_ptr<float>(),
                          want_attr ? grad_attr.data_ptr<float>() : nullptr,
                          want_rast ? grad_rast.data_ptr<float>() : nullptr, f.B, f.V, f.F, f.H, f.W, f.C,
                          f.attr_batched, spans_ptr(spans, (int64_t)f.B * f.H, attr), want_attr ? 0 : 1,
                          rast_grad_in_spans ? 1 : 0, nullptr, nullptr, 0};
    if (override_pix.has_value() && override_pix->defined()) {
        const at::Tensor& op = *override_pix;
        TORCH_CHECK(attr.device().is_cpu() && override_val.has_value() && override_val->defined(),
                    "gradient overrides are CPU only and need both pixels and values");
        const at::Tensor& ov = *override_val;
        A3D_CHECK_INPUT(op, at::kLong);
        A3D_CHECK_INPUT(ov, at::kFloat);
        TORCH_CHECK(op.dim() == 1 && ov.dim() == 2 && ov.size(0) == op.size(0) && ov.size(1) == f.C,
                    "override pixels [n] and values [n, C] expected, got ", op.sizes(), " and ", ov.sizes());
        const int64_t* pix = op.data_ptr<int64_t>();
        for (int64_t i = 1; i < op.size(0); ++i)
            TORCH_CHECK(pix[i - 1] < pix[i], "override pixels must be ascending and unique");
        a.override_pix = pix;
        a.override_val = ov.data_ptr<float>();
        a.override_n = op.size(0);
    }
    dispatch(
        attr, [&] { cpu::interpolate_bwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::interpolate_bwd(a, stream);
#endif
        });
    return {grad_attr, grad_rast};
}

}  // namespace glue
}  // namespace a3d
