// A small recycling pool for large CPU output buffers of the extension.
//
// Freshly mmapped memory costs a page fault per 4 KiB page on first touch
// (~0.5 ms per MiB on the target VMs: more than the rasteriser itself), and
// glibc mmaps every allocation above 32 MiB anew. Outputs >= 1 MiB are
// therefore carved from recycled blocks: when a tensor dies its block returns
// here (at most kMaxIdleBytes are kept idle; the rest is freed). CUDA tensors
// use torch's caching allocator directly.
#pragma once

#include <torch/extension.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace a3d {
namespace glue {

constexpr size_t kMinPooledBytes = size_t(1) << 20;
constexpr size_t kMaxIdleBytes = size_t(512) << 20;

struct BufferPool {
    std::mutex mutex;
    std::unordered_multimap<size_t, void*> idle;
    size_t idle_bytes = 0;
};

inline BufferPool& buffer_pool() {
    static BufferPool* pool = new BufferPool();  // intentionally leaked: outlives all tensors
    return *pool;
}

inline void pool_release(void* ptr, size_t bytes) {
    BufferPool& p = buffer_pool();
    {
        std::lock_guard<std::mutex> lock(p.mutex);
        if (p.idle_bytes + bytes <= kMaxIdleBytes) {
            p.idle.emplace(bytes, ptr);
            p.idle_bytes += bytes;
            return;
        }
    }
    std::free(ptr);
}

// Uninitialised tensor like at::empty(sizes, options).
inline at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
    if (!options.device().is_cpu()) return at::empty(sizes, options);
    int64_t numel = 1;
    for (int64_t s : sizes) numel *= s;
    const size_t bytes = ((size_t)numel * options.dtype().itemsize() + 63) & ~size_t(63);
    if (bytes < kMinPooledBytes) return at::empty(sizes, options);
    void* ptr = nullptr;
    {
        BufferPool& p = buffer_pool();
        std::lock_guard<std::mutex> lock(p.mutex);
        auto it = p.idle.find(bytes);
        if (it != p.idle.end()) {
            ptr = it->second;
            p.idle.erase(it);
            p.idle_bytes -= bytes;
        }
    }
    if (ptr == nullptr) {
        ptr = std::aligned_alloc(64, bytes);
        TORCH_CHECK(ptr != nullptr, "avatar3d: out of memory allocating ", bytes, " bytes");
    }
    return at::from_blob(ptr, sizes, [bytes](void* q) { pool_release(q, bytes); }, options);
}

inline at::Tensor pooled_empty_like(const at::Tensor& t) { return pooled_empty(t.sizes(), t.options()); }

}  // namespace glue
}  // namespace a3d
