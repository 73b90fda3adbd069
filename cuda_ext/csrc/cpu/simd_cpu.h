// Portable SIMD for the CPU kernels.
//
// The hot loops are written once with GCC/Clang vector extensions (8 x float),
// which compile to AVX2 or to pairs of SSE2 / NEON operations. On x86-64 such
// functions are marked A3D_SIMD_CLONES: the compiler emits an AVX2 and a
// baseline clone and picks one at load time (the extension must run on any
// x86-64 CPU, so no -march flag). IEEE semantics are unchanged (no FMA
// contraction: setup.py builds with -ffp-contract=off), so results are bitwise
// identical across clones.
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// v8f values only pass between inlined helpers inside one translation unit
// (the clones are whole loops), so GCC's note that passing them by value has
// a different ABI with and without AVX does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace a3d {
namespace cpu {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }

// 4 x float (SSE2 / NEON on any target, no clones needed): the per-pixel channel
// loops of interpolate for channel counts that are multiples of 4. Unaligned.
typedef float v4f __attribute__((vector_size(16)));

inline v4f splat4(float x) { return v4f{x, x, x, x}; }
inline v4f load4(const float* p) { v4f v; memcpy(&v, p, sizeof(v)); return v; }
inline void store4(float* p, v4f v) { memcpy(p, &v, sizeof(v)); }

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define A3D_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define A3D_SIMD_CLONES
#endif

// Pull an array that the following loop reads at random into this core's caches with one
// sequential sweep (a prefetch per 64-byte line). Between the ops of a step the mesh arrays
// (faces, attributes, positions: ~1 MB for a body) drop out of the core's cache while the
// images stream through; random misses on them cost more than this sweep.
inline void prefetch_array(const void* p, size_t bytes) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    unsigned sink = 0;
    for (size_t i = 0; i < bytes; i += 64) sink += c[i];   // loads: the hardware streams them in
    __asm__ volatile("" : : "r"(sink));
}

// Outputs at least this large cannot stay in cache anyway; they are written
// with non-temporal (streaming) stores, which skip the read-for-ownership of
// every output line (otherwise as costly as the write itself).
constexpr int64_t kStreamBytes = int64_t(32) << 20;

// Zero fills of outputs at least this large (the empty parts of an image,
// which the following ops skip) also use streaming stores: they are not read
// back soon, so they should not evict what is.
constexpr int64_t kStreamZeroBytes = int64_t(2) << 20;

inline bool want_stream_zero(int64_t bytes) {
#if defined(__SSE2__)
    return bytes >= kStreamZeroBytes;
#else
    (void)bytes;
    return false;
#endif
}

inline bool want_stream(int64_t bytes, const void* dst) {
#if defined(__SSE2__)
    return bytes >= kStreamBytes && reinterpret_cast<uintptr_t>(dst) % 16 == 0;
#else
    (void)bytes; (void)dst;
    return false;
#endif
}

// Orders a thread's streaming stores before the ones it makes afterwards (and
// before the end of the parallel region): they are weakly ordered.
inline void stream_fence(bool stream) {
#if defined(__SSE2__)
    if (stream) _mm_sfence();
#else
    (void)stream;
#endif
}

// dst[0, n) = src[0, n), with streaming stores when `stream` (see want_stream;
// follow with stream_fence).
inline void copy_floats(float* dst, const float* src, int64_t n, bool stream) {
#if defined(__SSE2__)
    if (stream) {
        int64_t i = 0;
        for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15u) != 0u; ++i) dst[i] = src[i];
        for (; i + 16 <= n; i += 16) {
            const __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
            const __m128 c = _mm_loadu_ps(src + i + 8), d = _mm_loadu_ps(src + i + 12);
            _mm_stream_ps(dst + i, a); _mm_stream_ps(dst + i + 4, b);
            _mm_stream_ps(dst + i + 8, c); _mm_stream_ps(dst + i + 12, d);
        }
        for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
        for (; i < n; ++i) dst[i] = src[i];
        return;
    }
#endif
    (void)stream;
    memcpy(dst, src, sizeof(float) * (size_t)n);
}

// dst[0, n) = 0 (streaming like copy_floats).
inline void zero_floats(float* dst, int64_t n, bool stream) {
#if defined(__SSE2__)
    if (stream) {
        int64_t i = 0;
        for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15u) != 0u; ++i) dst[i] = 0.0f;
        const __m128 z = _mm_setzero_ps();
        for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, z);
        for (; i < n; ++i) dst[i] = 0.0f;
        return;
    }
#endif
    (void)stream;
    memset(dst, 0, sizeof(float) * (size_t)n);
}

}  // namespace cpu
}  // namespace a3d
