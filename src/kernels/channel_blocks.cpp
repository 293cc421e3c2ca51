#include "channel_blocks.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>

#include "transpose16.h"

namespace cyclegan::channel_blocks {

namespace {

constexpr int64_t kBlock = 16;
// Work is shared out in runs of 64 pixels of one block of 16 channels, at least 16 runs (16 K
// elements) per thread: smaller images are not worth waking the other thread.
constexpr int64_t kRun = 64;
constexpr int64_t kMinimumRunsPerTask = 16;

void check(const Images& shape) {
  TORCH_CHECK(
      shape.images > 0 && shape.pixels > 0 && shape.channels > 0 && shape.channels % kBlock == 0,
      "channel_blocks: channel counts must be multiples of 16, got ", shape.channels);
}

// Calls convert(plane, block, begin, end) for every run: `plane` the first of the 16 channel
// planes of a block in LibTorch's layout, `block` the same block in oneDNN's, pixels
// [begin, end).
template <typename Convert>
void for_each_run(const Images& shape, Convert convert) {
  check(shape);
  const int64_t blocks = shape.images * shape.channels / kBlock;
  const int64_t runs_per_block = (shape.pixels + kRun - 1) / kRun;
  at::parallel_for(0, blocks * runs_per_block, kMinimumRunsPerTask,
                   [&](int64_t first, int64_t last) {
                     for (int64_t run = first; run < last; ++run) {
                       const int64_t block = run / runs_per_block;
                       const int64_t begin = (run % runs_per_block) * kRun;
                       const int64_t end = std::min(begin + kRun, shape.pixels);
                       convert(block * kBlock * shape.pixels, begin, end);
                     }
                   });
}

#if defined(__x86_64__)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, see transpose16.h
#ifndef __clang__  // a GCC-only warning; clang warns about the unknown name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// 16 planes' pixels [begin, begin + 16) (fewer at the end) -> rows[j]: pixel j's 16 channels.
__attribute__((target("avx512f"))) inline int load_pixels(const float* planes, int64_t pixels,
                                                          int64_t begin, int64_t end,
                                                          __m512 rows[16]) {
  const int count = static_cast<int>(std::min<int64_t>(16, end - begin));
  const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1);
  for (int c = 0; c < 16; ++c) rows[c] = _mm512_maskz_loadu_ps(valid, planes + c * pixels + begin);
  transpose16(rows);
  return count;
}

__attribute__((target("avx512f"))) void to_blocks_run(const float* planes, int64_t pixels,
                                                      int64_t begin, int64_t end, float* block) {
  for (int64_t p = begin; p < end; p += 16) {
    __m512 rows[16];
    const int count = load_pixels(planes, pixels, p, end, rows);
    for (int j = 0; j < count; ++j) _mm512_storeu_ps(block + (p + j) * 16, rows[j]);
  }
}

__attribute__((target("avx512f,avx512bw,avx512bf16"))) void to_blocks_bf16_run(
    const float* planes, int64_t pixels, int64_t begin, int64_t end, uint16_t* block) {
  for (int64_t p = begin; p < end; p += 16) {
    __m512 rows[16];
    const int count = load_pixels(planes, pixels, p, end, rows);
    int j = 0;
    for (; j + 1 < count; j += 2) {  // two pixels' channels, the first in the low half
      _mm512_storeu_si512(block + (p + j) * 16, (__m512i)_mm512_cvtne2ps_pbh(rows[j + 1], rows[j]));
    }
    if (j < count) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(block + (p + j) * 16),
                          (__m256i)_mm512_cvtneps_pbh(rows[j]));
    }
  }
}

__attribute__((target("avx512f"))) void from_blocks_run(const float* block, int64_t pixels,
                                                        int64_t begin, int64_t end, float* planes) {
  for (int64_t p = begin; p < end; p += 16) {
    const int count = static_cast<int>(std::min<int64_t>(16, end - p));
    __m512 rows[16];
    for (int j = 0; j < 16; ++j) {
      rows[j] = j < count ? _mm512_loadu_ps(block + (p + j) * 16) : _mm512_setzero_ps();
    }
    transpose16(rows);  // rows[c]: channel c over the pixels
    const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1);
    for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(planes + c * pixels + p, valid, rows[c]);
  }
}

#pragma GCC diagnostic pop

#endif  // __x86_64__

}  // namespace

bool float_available() { return cpu_has_avx512(); }

bool bf16_available() { return cpu_has_avx512_bf16(); }

void to_blocks(const float* plain, Images shape, float* blocked) {
  TORCH_CHECK(float_available(), "channel_blocks::to_blocks needs AVX-512");
#if defined(__x86_64__)
  for_each_run(shape, [&](int64_t offset, int64_t begin, int64_t end) {
    to_blocks_run(plain + offset, shape.pixels, begin, end, blocked + offset);
  });
#else
  (void)plain, (void)blocked;
#endif
}

void to_blocks_bf16(const float* plain, Images shape, uint16_t* blocked) {
  TORCH_CHECK(bf16_available(), "channel_blocks::to_blocks_bf16 needs AVX512-BF16");
#if defined(__x86_64__)
  for_each_run(shape, [&](int64_t offset, int64_t begin, int64_t end) {
    to_blocks_bf16_run(plain + offset, shape.pixels, begin, end, blocked + offset);
  });
#else
  (void)plain, (void)blocked;
#endif
}

void from_blocks(const float* blocked, Images shape, float* plain) {
  TORCH_CHECK(float_available(), "channel_blocks::from_blocks needs AVX-512");
#if defined(__x86_64__)
  for_each_run(shape, [&](int64_t offset, int64_t begin, int64_t end) {
    from_blocks_run(blocked + offset, shape.pixels, begin, end, plain + offset);
  });
#else
  (void)plain, (void)blocked;
#endif
}

}  // namespace cyclegan::channel_blocks
