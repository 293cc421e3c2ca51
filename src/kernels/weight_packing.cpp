#include "weight_packing.h"

#include "transpose16.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cyclegan::weight_packing {

namespace {

constexpr int64_t kBlock = 16;
constexpr int64_t kBlockElements = kBlock * kBlock;
constexpr int kFourTaps = 16;
constexpr int kFiveTaps = 25;

int64_t blocks_of(int64_t channels) {
  TORCH_CHECK(channels > 0 && channels % kBlock == 0,
              "weight_packing: channel counts must be multiples of 16, got ", channels);
  return channels / kBlock;
}

#if defined(__x86_64__)

// GCC 12's AVX-512 shuffle intrinsics pass _mm512_undefined_ps() as the unused merge operand,
// which -Wuninitialized flags after inlining (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#ifndef __clang__  // a GCC-only warning; clang warns about the unknown name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The 25 taps of the 5x5 upsampling kernel from the 16 of a 4x4 one (five_tap_kernel's sums).
__attribute__((target("avx512f"))) inline void five_taps(const __m512 four[16], __m512 five[25]) {
  __m512 rows[4][5];
  for (int y = 0; y < 4; ++y) {
    const __m512* r = four + 4 * y;
    rows[y][0] = r[3];
    rows[y][1] = _mm512_add_ps(r[2], r[3]);
    rows[y][2] = _mm512_add_ps(r[1], r[2]);
    rows[y][3] = _mm512_add_ps(r[0], r[1]);
    rows[y][4] = r[0];
  }
  for (int x = 0; x < 5; ++x) {
    five[x] = rows[3][x];
    five[5 + x] = _mm512_add_ps(rows[2][x], rows[3][x]);
    five[10 + x] = _mm512_add_ps(rows[1][x], rows[2][x]);
    five[15 + x] = _mm512_add_ps(rows[0][x], rows[1][x]);
    five[20 + x] = rows[0][x];
  }
}

// One block: paired channel p = 0..15 is the pair (p / 2) slot p % 2, the other channel q is
// the vector lane. `kernel(p, q)` points at the 16 taps of that channel pair.
template <typename KernelOf>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_block(KernelOf kernel_of,
                                                                       bool five_tap,
                                                                       uint16_t* target) {
  const int taps = five_tap ? kFiveTaps : kFourTaps;
  // bf16 of the even p in lanes 0..15, of the odd p in 16..31 -> interleaved by lane.
  alignas(64) int16_t interleave[32];
  for (int lane = 0; lane < 16; ++lane) {
    interleave[2 * lane] = static_cast<int16_t>(lane);
    interleave[2 * lane + 1] = static_cast<int16_t>(16 + lane);
  }
  const __m512i order = _mm512_load_si512(interleave);
  __m512 even[kFiveTaps];
  for (int p = 0; p < kBlock; ++p) {
    __m512 rows[16];
    for (int q = 0; q < 16; ++q) rows[q] = _mm512_loadu_ps(kernel_of(p, q));
    transpose16(rows);  // rows[tap]: the tap over q
    __m512 taps_of_p[kFiveTaps];
    if (five_tap) {
      five_taps(rows, taps_of_p);
    } else {
      for (int t = 0; t < kFourTaps; ++t) taps_of_p[t] = rows[t];
    }
    if (p % 2 == 0) {
      for (int t = 0; t < taps; ++t) even[t] = taps_of_p[t];
      continue;
    }
    for (int t = 0; t < taps; ++t) {
      const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(taps_of_p[t], even[t]);
      _mm512_storeu_si512(target + t * kBlockElements + (p / 2) * 32,
                          _mm512_permutexvar_epi16(order, both));
    }
  }
}

// One block of "ABcd16b16a" ([taps][input channel][output channel] inside) -> the weight rows.
__attribute__((target("avx512f"))) void unblock_block(const float* block, float* target,
                                                      int64_t in_channels) {
  for (int input = 0; input < 16; ++input) {
    __m512 rows[16];  // [tap]: over output channels
    for (int t = 0; t < kFourTaps; ++t) {
      rows[t] = _mm512_loadu_ps(block + t * kBlockElements + input * 16);
    }
    transpose16(rows);  // [output channel]: its taps
    for (int output = 0; output < 16; ++output) {
      _mm512_storeu_ps(target + (output * in_channels + input) * kFourTaps, rows[output]);
    }
  }
}

#pragma GCC diagnostic pop

#endif  // __x86_64__

}  // namespace

bool bf16_available() { return cpu_has_avx512_bf16(); }

bool float_available() { return cpu_has_avx512(); }

void pack_bf16(const FourByFour& weight, bool five_tap, Bf16Layout layout, uint16_t* target,
               int64_t first_row_block, int64_t end_row_block) {
  TORCH_CHECK(bf16_available(), "weight_packing::pack_bf16 needs AVX512-BF16");
  const int64_t out_blocks = blocks_of(weight.out_channels);
  const int64_t in_blocks = blocks_of(weight.in_channels);
  // The weight's rows (its first dimension) and columns, in blocks of 16 channels.
  const int64_t row_blocks = weight.inputs_outer ? in_blocks : out_blocks;
  const int64_t column_blocks = weight.inputs_outer ? out_blocks : in_blocks;
  if (end_row_block < 0) end_row_block = row_blocks;
  TORCH_CHECK(
      0 <= first_row_block && first_row_block <= end_row_block && end_row_block <= row_blocks,
      "weight_packing::pack_bf16: row blocks [", first_row_block, ", ", end_row_block, ") of ",
      row_blocks);
  // Strides between the 4x4 kernels of consecutive output / input channels.
  const int64_t out_stride = (weight.inputs_outer ? 1 : weight.in_channels) * kFourTaps;
  const int64_t in_stride = (weight.inputs_outer ? weight.out_channels : 1) * kFourTaps;
  const int64_t block_size = (five_tap ? kFiveTaps : kFourTaps) * kBlockElements;
  const int64_t blocks = (end_row_block - first_row_block) * column_blocks;
#if defined(__x86_64__)
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t row_block = first_row_block + index / column_blocks;
      const int64_t column_block = index % column_blocks;
      const int64_t out_block = weight.inputs_outer ? column_block : row_block;
      const int64_t in_block = weight.inputs_outer ? row_block : column_block;
      const int64_t target_block = layout.input_blocks_outer ? in_block * out_blocks + out_block
                                                             : out_block * in_blocks + in_block;
      const float* corner = weight.weight + out_block * 16 * out_stride + in_block * 16 * in_stride;
      uint16_t* block = target + target_block * block_size;
      if (layout.paired == Paired::kOutputs) {
        pack_block([&](int p, int q) { return corner + p * out_stride + q * in_stride; }, five_tap,
                   block);
      } else {
        pack_block([&](int p, int q) { return corner + q * out_stride + p * in_stride; }, five_tap,
                   block);
      }
    }
  });
#else
  (void)five_tap, (void)layout, (void)target, (void)block_size, (void)out_stride, (void)in_stride,
      (void)blocks;
#endif
}

void unblock_float(const float* blocked, int64_t out_channels, int64_t in_channels, float* target) {
  TORCH_CHECK(float_available(), "weight_packing::unblock_float needs AVX-512");
  const int64_t out_blocks = blocks_of(out_channels);
  const int64_t in_blocks = blocks_of(in_channels);
#if defined(__x86_64__)
  at::parallel_for(0, out_blocks * in_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t out_block = index / in_blocks;
      const int64_t in_block = index % in_blocks;
      unblock_block(blocked + index * kFourTaps * kBlockElements,
                    target + (out_block * 16 * in_channels + in_block * 16) * kFourTaps,
                    in_channels);
    }
  });
#else
  (void)blocked, (void)target;
#endif
}

}  // namespace cyclegan::weight_packing
