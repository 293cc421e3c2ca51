#pragma once

// Private to the library: 4x4 convolution weights moved between LibTorch's layout and the
// blocked layouts of oneDNN's kernels, for the conversions oneDNN's own reorders spend the most
// time on in a bf16 training step (about 1.2 cycles per element and layout, 3 of a small U-Net's
// 25 ms steps). Each block of 16 x 16 channel pairs goes through AVX-512 registers once per
// layout: sixteen 4x4 kernels are sixteen vectors, one 16 x 16 transposition away from the
// block's taps.
//
// Layout names are oneDNN's: dims a = output channels, b = input channels of the weight
// [a][b][4][4] (LibTorch's [C_out, C_in, 4, 4]); capitals are blocks of 16, outermost first.

#include <cstdint>

namespace cyclegan::weight_packing {

// Whether this CPU runs the bf16 packers (AVX512-BF16) / the float32 unblocking (AVX-512).
bool bf16_available();
bool float_available();

// Which channel is stored in pairs inside a block: oneDNN's "8a16b2a" (output channels; the
// data-gradient pass reads it) or "8b16a2b" (input channels; the forward pass).
enum class Paired { kOutputs, kInputs };

struct Bf16Layout {
  bool input_blocks_outer;  // BA.. (transposed convolutions' weights) rather than AB..
  Paired paired;
};

struct FourByFour {
  const float* weight;
  int64_t out_channels, in_channels;
  bool inputs_outer;  // [in][out][4][4] (LibTorch's transposed convolutions), not [out][in][4][4]
};

// The weight -> `target`, bf16 (rounded to nearest even, as oneDNN's reorders) in the blocked
// layout [a or b blocks][b or a blocks][taps][16 x 16 pairs]. With five_tap the taps are the
// weight's 5x5 upsampling kernel (five_tap_kernel in gemm_conv.cpp, the same sums in the same
// order), 25 per block instead of 16. Channel counts: multiples of 16. Only the blocks of the
// weight's rows (first dimension) [16 * first_row_block, 16 * end_row_block) when given: the
// optimizer writes each block of rows right after updating it, while it is in cache.
void pack_bf16(const FourByFour& weight, bool five_tap, Bf16Layout layout, uint16_t* target,
               int64_t first_row_block = 0, int64_t end_row_block = -1);

// The float32 blocked layout "ABcd16b16a" (weight gradients of oneDNN's forward-layout kernels)
// -> [out_channels][in_channels][4][4]. Channel counts: multiples of 16.
void unblock_float(const float* blocked, int64_t out_channels, int64_t in_channels, float* target);

}  // namespace cyclegan::weight_packing
