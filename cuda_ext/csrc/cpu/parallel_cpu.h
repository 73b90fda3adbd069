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
// on_start() runs once in every worker before it takes tasks.
template <class F, class S>
inline void parallel_tasks(int64_t n, const F& f, const S& on_start) {
    if (n <= 0) return;
    const int k = (int)std::min<int64_t>(num_threads(), n);
    if (k <= 1 || at::in_parallel_region()) {
        on_start();
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    std::atomic<int64_t> next{0};
    at::parallel_for(0, k, 1, [&](int64_t, int64_t) {
        on_start();
        for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
             i = next.fetch_add(1, std::memory_order_relaxed))
            f(i);
    });
}

template <class F>
inline void parallel_tasks(int64_t n, const F& f) {
    parallel_tasks(n, f, [] {});
}

// Columns [x0, x1) of global row r that may hold covered pixels (coverage spans,
// see op_args.h; all of the row without spans; x0 == x1 == 0 when empty).
inline void row_span(const int32_t* spans, int64_t r, int W, int& x0, int& x1) {
    if (!spans) { x0 = 0; x1 = W; return; }
    x0 = spans[2 * r]; x1 = spans[2 * r + 1];
    if (x0 < 0) x0 = 0;
    if (x1 > W) x1 = W;
    if (x0 >= x1) x0 = x1 = 0;
}

// Split rows [0, n) into k contiguous parts of about equal work, for kernels whose
// cost per row is a constant plus the row's coverage span width (spans: int32
// [n, 2], see op_args.h; nullptr: equal row counts). The body's upper
// half holds more covered pixels than its lower half, so equal row counts would
// leave one thread waiting. bounds[i], bounds[i + 1]: part i. Depends only on
// (spans, n, W, k), so results stay deterministic.
inline void split_rows_by_spans(const int32_t* spans, int64_t n, int W, int k, std::vector<int64_t>& bounds) {
    bounds.assign((size_t)k + 1, n);
    bounds[0] = 0;
    if (!spans) {
        for (int i = 1; i < k; ++i) bounds[(size_t)i] = n * i / k;
        return;
    }
    constexpr int64_t kRowCost = 16;   // per-row overhead, in pixels
    auto cost = [&](int64_t r) {
        int x0, x1;
        row_span(spans, r, W, x0, x1);
        return kRowCost + (x1 - x0);
    };
    int64_t total = 0;
    for (int64_t r = 0; r < n; ++r) total += cost(r);
    int64_t acc = 0;
    int part = 1;
    for (int64_t r = 0; r < n && part < k; ++r) {
        acc += cost(r);
        while (part < k && acc * k >= total * part) bounds[(size_t)part++] = r + 1;
    }
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
