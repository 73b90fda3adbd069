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

// CPU only: the forward plus its recorded blends (an opaque uint8 tensor of
// AAEventRec) for antialias_bwd_events.
std::tuple<at::Tensor, at::Tensor> antialias_fwd_events(const at::Tensor& color, const at::Tensor& rast,
                                                        const at::Tensor& pos, const at::Tensor& faces,
                                                        const at::Tensor& topo, const OptTensor& spans,
                                                        bool color_zero_outside) {
    AntialiasArgs a = make_args(color, rast, pos, faces, topo);
    TORCH_CHECK(color.device().is_cpu(), "antialias_fwd_events is CPU only");
    a.spans = spans_ptr(spans, (int64_t)a.B * a.H, color);
    a.color_zero_outside = color_zero_outside ? 1 : 0;
    auto out = pooled_empty_like(color);
    a.out = out.data_ptr<float>();
    thread_local std::vector<AAEventRec> events;
    cpu::antialias_fwd(a, &events);
    auto ev = at::empty({(int64_t)(events.size() * sizeof(AAEventRec))}, color.options().dtype(at::kByte));
    if (!events.empty()) std::memcpy(ev.data_ptr<uint8_t>(), events.data(), events.size() * sizeof(AAEventRec));
    return {out, ev};
}

// Arguments of the event-based backward (checks included); the gradient pointers are left null.
static AntialiasEventGradArgs event_grad_args(const at::Tensor& color, const at::Tensor& pos,
                                              const at::Tensor& events, const at::Tensor& grad_out) {
    A3D_CHECK_INPUT(color, at::kFloat);
    A3D_CHECK_INPUT(pos, at::kFloat);
    A3D_CHECK_INPUT(events, at::kByte);
    A3D_CHECK_INPUT(grad_out, at::kFloat);
    TORCH_CHECK(color.device().is_cpu() && pos.device().is_cpu() && events.device().is_cpu() &&
                    grad_out.device().is_cpu(), "the event-based antialias backward is CPU only");
    TORCH_CHECK(color.dim() == 4 && grad_out.sizes() == color.sizes(), "grad_out must match color");
    TORCH_CHECK(pos.dim() == 2 || (pos.dim() == 3 && pos.size(0) == color.size(0)), "bad pos ", pos.sizes());
    TORCH_CHECK(events.dim() == 1 && events.numel() % (int64_t)sizeof(AAEventRec) == 0, "bad events");
    const bool pb = pos.dim() == 3;
    AntialiasEventGradArgs a{};
    a.color = color.data_ptr<float>();
    a.pos = pos.data_ptr<float>();
    a.events = reinterpret_cast<const AAEventRec*>(events.data_ptr<uint8_t>());
    a.n = events.numel() / (int64_t)sizeof(AAEventRec);
    a.grad_out = grad_out.data_ptr<float>();
    a.B = (int)color.size(0); a.H = (int)color.size(1); a.W = (int)color.size(2); a.C = (int)color.size(3);
    a.V = (int)pos.size(pb ? 1 : 0);
    a.pos_batched = pb ? 1 : 0;
    return a;
}

// Backward from the events of antialias_fwd_events (same color, pos).
// want_color / want_pos false: that output is an empty tensor (not computed).
std::tuple<at::Tensor, at::Tensor> antialias_bwd_events(const at::Tensor& color, const at::Tensor& pos,
                                                        const at::Tensor& events, const at::Tensor& grad_out,
                                                        bool want_color, bool want_pos) {
    AntialiasEventGradArgs a = event_grad_args(color, pos, events, grad_out);
    at::Tensor grad_color = want_color ? pooled_empty_like(color) : at::empty({0}, color.options());
    at::Tensor grad_pos = want_pos ? pooled_empty_like(pos) : at::empty({0}, pos.options());
    a.grad_color = want_color ? grad_color.data_ptr<float>() : nullptr;
    a.grad_pos = want_pos ? grad_pos.data_ptr<float>() : nullptr;
    cpu::antialias_bwd_events(a);
    return {grad_color, grad_pos};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> antialias_grad_overrides(const at::Tensor& color, const at::Tensor& pos,
                                                                        const at::Tensor& events,
                                                                        const at::Tensor& grad_out, bool want_pos) {
    AntialiasEventGradArgs a = event_grad_args(color, pos, events, grad_out);
    at::Tensor grad_pos = want_pos ? pooled_empty_like(pos) : at::empty({0}, pos.options());
    a.grad_pos = want_pos ? grad_pos.data_ptr<float>() : nullptr;
    std::vector<int64_t> pix;
    std::vector<float> val;
    cpu::antialias_grad_overrides(a, pix, val);
    auto pix_t = at::empty({(int64_t)pix.size()}, color.options().dtype(at::kLong));
    auto val_t = at::empty({(int64_t)pix.size(), a.C}, color.options());
    if (!pix.empty()) {
        std::memcpy(pix_t.data_ptr<int64_t>(), pix.data(), pix.size() * sizeof(int64_t));
        std::memcpy(val_t.data_ptr<float>(), val.data(), val.size() * sizeof(float));
    }
    return {pix_t, val_t, grad_pos};
}

}  // namespace glue
}  // namespace a3d
