// Thin wrapper over ATen's intra-op thread pool (respects torch.set_num_threads;
// avoids linking a second OpenMP runtime into the extension).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
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

// Dynamic scheduling: f(i) for every task i in [0, n), handed out one at a time
// from a shared counter (a thread that finishes early, or one that was not
// descheduled by other load, takes the remaining tasks). Task order per thread
// is increasing; which thread runs a task does not affect results as long as
// tasks write disjoint outputs.
template <class F>
inline void parallel_tasks(int64_t n, const F& f) {
    if (n <= 0) return;
    const int k = (int)std::min<int64_t>(num_threads(), n);
    if (k <= 1 || at::in_parallel_region()) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    std::atomic<int64_t> next{0};
    at::parallel_for(0, k, 1, [&](int64_t, int64_t) {
        for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
             i = next.fetch_add(1, std::memory_order_relaxed))
            f(i);
    });
}

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
        if (data.size() < (size_t)k * (size_t)n) data.resize((size_t)k * (size_t)n);
        std::memset(data.data(), 0, sizeof(float) * (size_t)k * (size_t)n);
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
