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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define A3D_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define A3D_SIMD_CLONES
#endif

// Outputs at least this large cannot stay in cache anyway; they are written
// with non-temporal (streaming) stores, which skip the read-for-ownership of
// every output line (otherwise as costly as the write itself).
constexpr int64_t kStreamBytes = int64_t(32) << 20;

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

}  // namespace cpu
}  // namespace a3d
