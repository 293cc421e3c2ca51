#pragma once

// Private to the library: images moved between LibTorch's layout [images][channels][pixels] and
// oneDNN's blocks of 16 channels [images][channels / 16][pixels][16] ("aBcd16b"), the layout of
// every activation its bf16 kernels read and write. oneDNN's own reorders of these took 3.7 of a
// 128 px book U-Net's 50 ms bf16 step (ONEDNN_VERBOSE), about 2.6 cycles per element; here 16
// channels x 16 pixels go through AVX-512 registers at a time. Channel counts: multiples of 16.

#include <cstdint>

namespace cyclegan::channel_blocks {

// Whether this CPU runs them: AVX-512 (float32) / AVX512-BF16 (to bf16).
bool float_available();
bool bf16_available();

struct Images {
  int64_t images, channels, pixels;
};

// plain [images][channels][pixels] -> blocked, float32 or bf16 (rounded to nearest even, as
// oneDNN's reorders).
void to_blocks(const float* plain, Images shape, float* blocked);
void to_blocks_bf16(const float* plain, Images shape, uint16_t* blocked);

// blocked (float32) -> plain.
void from_blocks(const float* blocked, Images shape, float* plain);

}  // namespace cyclegan::channel_blocks
