// avatar3d.ops._C — the table of contents: every op of the extension.
#include "torch/glue.h"

namespace a3d {
namespace glue {
bool has_cuda() {
#ifdef A3D_WITH_CUDA
    return true;
#else
    return false;
#endif
}
}  // namespace glue
}  // namespace a3d

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    using namespace a3d::glue;
    m.doc() = "avatar3d rasteriser kernels (CPU; CUDA when built with it)";
    m.def("has_cuda", &has_cuda, "True when the CUDA kernels were compiled in");
    m.def("rasterize_fwd", &rasterize_fwd, "rasterize forward");
    m.def("rasterize_fwd_spans", &rasterize_fwd_spans, "rasterize forward, CPU: (rast, coverage spans)");
    m.def("rasterize_bwd", &rasterize_bwd, "rasterize backward (to clip positions)", py::arg("pos"),
          py::arg("faces"), py::arg("rast"), py::arg("grad_rast"), py::arg("spans") = py::none());
    m.def("interpolate_fwd", &interpolate_fwd, "interpolate forward", py::arg("attr"), py::arg("rast"),
          py::arg("faces"), py::arg("spans") = py::none());
    m.def("interpolate_bwd", &interpolate_bwd, "interpolate backward (attr, rast; each optional on the CPU)",
          py::arg("attr"), py::arg("rast"), py::arg("faces"), py::arg("grad_out"), py::arg("spans") = py::none(),
          py::arg("want_attr") = true, py::arg("want_rast") = true, py::arg("rast_grad_in_spans") = false,
          py::arg("override_pix") = py::none(), py::arg("override_val") = py::none());
    m.def("texture_fwd", &texture_fwd, "texture forward");
    m.def("texture_bwd", &texture_bwd, "texture backward (tex, uv)");
    m.def("antialias_fwd", &antialias_fwd, "antialias forward");
    m.def("antialias_bwd", &antialias_bwd, "antialias backward (color, pos)");
    m.def("antialias_fwd_events", &antialias_fwd_events, "antialias forward, CPU: (out, recorded blends)",
          py::arg("color"), py::arg("rast"), py::arg("pos"), py::arg("faces"), py::arg("topo"),
          py::arg("spans") = py::none(), py::arg("color_zero_outside") = false);
    m.def("antialias_bwd_events", &antialias_bwd_events,
          "antialias backward, CPU, from recorded blends (color, pos; each optional)");
    m.def("antialias_grad_overrides", &antialias_grad_overrides,
          "antialias backward, CPU, from recorded blends: the colour gradient as overrides of grad_out "
          "(pixels, values) and the position gradient (when want_pos)");
}
