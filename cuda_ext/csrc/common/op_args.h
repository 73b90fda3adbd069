// Plain argument structs for every op (no torch types). Pointers are to
// contiguous row-major float32 / int32 buffers, shapes in the comments.
//
// Coverage spans (CPU kernels; optional, nullptr = unknown): int32 [B * H, 2],
// per image row the half-open column range [x0, x1) outside which every pixel
// of that row is empty (id 0) in rast; x0 >= x1: the row is empty. rasterize
// produces them, the other ops use them to skip the empty parts of an image.
#pragma once

#include <stdint.h>

namespace a3d {

enum TexFilter { kFilterNearest = 0, kFilterBilinear = 1 };
enum TexBoundary { kBoundaryClamp = 0, kBoundaryWrap = 1 };

struct RasterizeArgs {
    const float* pos;      // [B, V, 4] clip positions
    const int32_t* faces;  // [F, 3]
    float* rast;           // [B, H, W, 4] out: (u, v, z/w, tri_id + 1)
    unsigned long long* keys;  // CUDA only: [B, H, W] depth/id key scratch (CPU: unused)
    int B, V, F, H, W;
    int32_t* spans;        // CPU, optional out: coverage spans of rast
};

struct RasterizeGradArgs {
    const float* pos;        // [B, V, 4]
    const int32_t* faces;    // [F, 3]
    const float* rast;       // [B, H, W, 4]
    const float* grad_rast;  // [B, H, W, 4]
    float* grad_pos;         // [B, V, 4] out (fully written)
    int B, V, F, H, W;
    const int32_t* spans;    // CPU, optional: coverage spans of rast
};

struct InterpolateArgs {
    const float* attr;      // [B, V, C] (attr_batched) or [V, C]
    const float* rast;      // [B, H, W, 4]
    const int32_t* faces;   // [F, 3]
    float* out;             // [B, H, W, C]
    int B, V, F, H, W, C;
    int attr_batched;
    const int32_t* spans;   // CPU, optional: coverage spans of rast
};

struct InterpolateGradArgs {
    const float* attr;
    const float* rast;
    const int32_t* faces;
    const float* grad_out;  // [B, H, W, C]
    float* grad_attr;       // like attr, out (fully written)
    float* grad_rast;       // [B, H, W, 4] out (fully written; channels 2, 3 are 0), or nullptr (CPU: not wanted)
    int B, V, F, H, W, C;
    int attr_batched;
    const int32_t* spans;   // CPU, optional: coverage spans of rast
    int skip_attr;          // CPU: 1 = grad_attr not wanted (left unwritten)
    int grad_rast_in_spans; // CPU, with spans: 1 = grad_rast written only inside them (the rest left
                            // undefined: for a consumer that reads nothing else)
    // CPU, optional: pixels whose upstream gradient is read from here instead of grad_out
    // (flat indices over [B, H, W], ascending, unique; values [n, C]): antialias's colour
    // gradient differs from its own upstream gradient only on the pixels its blends touch.
    const int64_t* override_pix;
    const float* override_val;
    int64_t override_n;
};

struct TextureArgs {
    const float* tex;   // [Bt, Ht, Wt, C], Bt == B or 1
    const float* uv;    // [B, H, W, 2]
    float* out;         // [B, H, W, C]
    int B, Bt, Ht, Wt, C, H, W;
    int filter, boundary;
};

struct TextureGradArgs {
    const float* tex;
    const float* uv;
    const float* grad_out;  // [B, H, W, C]
    float* grad_tex;        // [Bt, Ht, Wt, C] out (fully written)
    float* grad_uv;         // [B, H, W, 2] out (fully written)
    int B, Bt, Ht, Wt, C, H, W;
    int filter, boundary;
};

struct AntialiasArgs {
    const float* color;     // [B, H, W, C]
    const float* rast;      // [B, H, W, 4]
    const float* pos;       // [B, V, 4] (pos_batched) or [V, 4]
    const int32_t* faces;   // [F, 3]
    const int32_t* topo;    // [F, 3] opposite vertex across each edge, -1 = boundary
    float* out;             // [B, H, W, C]
    int B, V, F, H, W, C;
    int pos_batched;
    const int32_t* spans;   // CPU, optional: coverage spans of rast
    int color_zero_outside; // CPU: color is 0 outside the spans (it came from interpolate with this rast)
};

// One antialias blend recorded by the CPU forward (for its backward): the
// target pixel t receives alpha * (colour[s] - colour[t]); the rest is the
// AAEvent data aa_pair_grad() needs. Pixels are flat indices over [B, H, W].
struct AAEventRec {
    int64_t t, s;
    float alpha, sign_t, eF, eO, fpx, fpy, opx, opy;
    int32_t va, vb;   // silhouette edge vertices
    int32_t view;     // batch index of the vertex positions (0 when shared)
    int32_t pad;
};

// Antialias backward from recorded events (no rescan of rast).
struct AntialiasEventGradArgs {
    const float* color;       // [B, H, W, C]
    const float* pos;         // [B, V, 4] (pos_batched) or [V, 4]
    const AAEventRec* events; // [n] in a deterministic order
    int64_t n;
    const float* grad_out;    // [B, H, W, C]
    float* grad_color;        // [B, H, W, C] out, or nullptr (not wanted)
    float* grad_pos;          // like pos, out, or nullptr (not wanted)
    int B, V, H, W, C;
    int pos_batched;
};

struct AntialiasGradArgs {
    const float* color;
    const float* rast;
    const float* pos;
    const int32_t* faces;
    const int32_t* topo;
    const float* grad_out;   // [B, H, W, C]
    float* grad_color;       // [B, H, W, C] out (fully written)
    float* grad_pos;         // like pos, out (fully written)
    int B, V, F, H, W, C;
    int pos_batched;
};

}  // namespace a3d
