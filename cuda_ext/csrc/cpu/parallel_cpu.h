// Thin wrapper over ATen's intra-op thread pool (respects torch.set_num_threads;
// avoids linking a second OpenMP runtime into the extension).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace a3d {
namespace cpu {

template <class F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
    at::parallel_for(begin, end, grain, f);
}

inline int num_threads() { return std::max(1, (int)at::get_num_threads()); }

// Split [0, n) into k nearly equal contiguous parts; part i = [lo, hi).
inline void split_range(int64_t n, int k, int i, int64_t& lo, int64_t& hi) {
    lo = n * i / k;
    hi = n * (i + 1) / k;
}

// Deterministic per-part accumulation buffers: parts write part-private rows,
// then reduce() sums them (in part order) into dst.
struct PartBuffers {
    std::vector<float> data;
    int parts = 1;
    int64_t size = 0;
    void init(int k, int64_t n) {
        parts = k; size = n;
        data.assign((size_t)k * (size_t)n, 0.0f);
    }
    float* part(int i) { return data.data() + (size_t)i * (size_t)size; }
    void reduce(float* dst) {
        parallel_for(0, size, 1 << 14, [&](int64_t lo, int64_t hi) {
            for (int64_t j = lo; j < hi; ++j) {
                float s = 0.0f;
                for (int i = 0; i < parts; ++i) s += data[(size_t)i * (size_t)size + j];
                dst[j] = s;
            }
        });
    }
};

}  // namespace cpu
}  // namespace a3d
