// Glue for rasterize: checks, allocation, dispatch.
#include "glue.h"

namespace a3d {
namespace glue {

static void check_mesh(const at::Tensor& pos, const at::Tensor& faces) {
    A3D_CHECK_INPUT(pos, at::kFloat);
    A3D_CHECK_INPUT(faces, at::kInt);
    A3D_CHECK_SAME_DEVICE(pos, faces);
    TORCH_CHECK(pos.dim() == 3 && pos.size(2) == 4, "pos must be [B, V, 4], got ", pos.sizes());
    TORCH_CHECK(faces.dim() == 2 && faces.size(1) == 3, "faces must be [F, 3], got ", faces.sizes());
    TORCH_CHECK(pos.size(1) < (1LL << 31) && faces.size(0) < (1LL << 31), "mesh too large");
}

at::Tensor rasterize_fwd(const at::Tensor& pos, const at::Tensor& faces, int64_t height, int64_t width) {
    check_mesh(pos, faces);
    TORCH_CHECK(height > 0 && width > 0 && height <= kMaxResolution && width <= kMaxResolution,
                "resolution out of range: ", height, "x", width);
    const int B = (int)pos.size(0);
    auto rast = pooled_empty({B, height, width, 4}, pos.options());
    RasterizeArgs a{pos.data_ptr<float>(), faces.data_ptr<int32_t>(), rast.data_ptr<float>(), nullptr,
                    B, (int)pos.size(1), (int)faces.size(0), (int)height, (int)width};
    at::Tensor keys;
    dispatch(
        pos, [&] { cpu::rasterize_fwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            keys = at::empty({B, height, width}, pos.options().dtype(at::kLong));
            a.keys = reinterpret_cast<unsigned long long*>(keys.data_ptr<int64_t>());
            cuda::rasterize_fwd(a, stream);
#endif
        });
    return rast;
}

std::tuple<at::Tensor, at::Tensor> rasterize_fwd_spans(const at::Tensor& pos, const at::Tensor& faces,
                                                       int64_t height, int64_t width) {
    check_mesh(pos, faces);
    TORCH_CHECK(pos.device().is_cpu(), "rasterize_fwd_spans is CPU only");
    TORCH_CHECK(height > 0 && width > 0 && height <= kMaxResolution && width <= kMaxResolution,
                "resolution out of range: ", height, "x", width);
    const int B = (int)pos.size(0);
    auto rast = pooled_empty({B, height, width, 4}, pos.options());
    auto spans = at::empty({B * height, 2}, pos.options().dtype(at::kInt));
    RasterizeArgs a{pos.data_ptr<float>(), faces.data_ptr<int32_t>(), rast.data_ptr<float>(), nullptr,
                    B, (int)pos.size(1), (int)faces.size(0), (int)height, (int)width, spans.data_ptr<int32_t>()};
    cpu::rasterize_fwd(a);
    return {rast, spans};
}

at::Tensor rasterize_bwd(const at::Tensor& pos, const at::Tensor& faces, const at::Tensor& rast,
                         const at::Tensor& grad_rast, const OptTensor& spans) {
    check_mesh(pos, faces);
    A3D_CHECK_INPUT(rast, at::kFloat);
    A3D_CHECK_INPUT(grad_rast, at::kFloat);
    TORCH_CHECK(rast.dim() == 4 && rast.size(3) == 4 && rast.size(0) == pos.size(0), "bad rast ", rast.sizes());
    TORCH_CHECK(grad_rast.sizes() == rast.sizes(), "grad_rast must match rast");
    auto grad_pos = pooled_empty_like(pos);
    RasterizeGradArgs a{pos.data_ptr<float>(), faces.data_ptr<int32_t>(), rast.data_ptr<float>(),
                        grad_rast.data_ptr<float>(), grad_pos.data_ptr<float>(), (int)pos.size(0),
                        (int)pos.size(1), (int)faces.size(0), (int)rast.size(1), (int)rast.size(2),
                        spans_ptr(spans, rast.size(0) * rast.size(1), pos)};
    dispatch(
        pos, [&] { cpu::rasterize_bwd(a); },
        [&](void* stream) {
#ifdef A3D_WITH_CUDA
            cuda::rasterize_bwd(a, stream);
#endif
        });
    return grad_pos;
}

}  // namespace glue
}  // namespace a3d
