#pragma once

#include "cpu_features.h"

// Private to the kernels: a 16 x 16 float transposition in AVX-512 registers, the step that moves
// tensors between LibTorch's layouts and oneDNN's blocks of 16 channels
// (weight_packing.cpp, channel_blocks.cpp).

#if defined(__x86_64__)
#include <immintrin.h>

namespace cyclegan {

// GCC 12's AVX-512 shuffle intrinsics pass _mm512_undefined_ps() as the unused merge operand,
// which -Wuninitialized flags after inlining (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#ifndef __clang__  // a GCC-only warning; clang warns about the unknown name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// rows[i][j] -> rows[j][i] for a 16 x 16 float matrix held in 16 vectors.
__attribute__((target("avx512f"))) inline void transpose16(__m512 rows[16]) {
  __m512 pairs[16];  // [4L..4L+1] of two rows interleaved, per 128-bit lane L
  for (int r = 0; r < 16; r += 2) {
    pairs[r] = _mm512_unpacklo_ps(rows[r], rows[r + 1]);
    pairs[r + 1] = _mm512_unpackhi_ps(rows[r], rows[r + 1]);
  }
  __m512 quads[16];  // quads[4q + c]: in lane L, column 4L + c of rows 4q .. 4q+3
  for (int q = 0; q < 4; ++q) {
    const __m512* p = pairs + 4 * q;
    quads[4 * q + 0] = _mm512_shuffle_ps(p[0], p[2], 0x44);
    quads[4 * q + 1] = _mm512_shuffle_ps(p[0], p[2], 0xEE);
    quads[4 * q + 2] = _mm512_shuffle_ps(p[1], p[3], 0x44);
    quads[4 * q + 3] = _mm512_shuffle_ps(p[1], p[3], 0xEE);
  }
  // halves[8h + c] (c = 0..3): lanes of columns c, c + 8 (halves[8h + c]) and c + 4, c + 12
  // (halves[8h + 4 + c]) for rows 8h .. 8h+7.
  __m512 halves[16];
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < 4; ++c) {
      const __m512 upper = quads[8 * h + c];
      const __m512 lower = quads[8 * h + 4 + c];
      halves[8 * h + c] = _mm512_shuffle_f32x4(upper, lower, 0x88);
      halves[8 * h + 4 + c] = _mm512_shuffle_f32x4(upper, lower, 0xDD);
    }
  }
  // halves[c] and halves[8 + c] (c = 0..7) hold columns c and c + 8 of rows 0-7 and 8-15.
  for (int c = 0; c < 8; ++c) {
    rows[c] = _mm512_shuffle_f32x4(halves[c], halves[8 + c], 0x88);
    rows[c + 8] = _mm512_shuffle_f32x4(halves[c], halves[8 + c], 0xDD);
  }
}

#pragma GCC diagnostic pop

}  // namespace cyclegan

#endif  // __x86_64__
