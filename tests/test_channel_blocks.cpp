// Activations between LibTorch's layout and oneDNN's blocks of 16 channels ("aBcd16b":
// [images][channels / 16][pixels][channel % 16]), against the layout's definition, with pixel
// counts that leave partial runs of 16 and 64 and images split between threads.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "kernels/channel_blocks.h"

namespace {

using cyclegan::channel_blocks::Images;

int64_t blocked_index(const Images& shape, int64_t image, int64_t channel, int64_t pixel) {
  return ((image * (shape.channels / 16) + channel / 16) * shape.pixels + pixel) * 16 +
         channel % 16;
}

std::vector<Images> shapes() {
  // 1x1 and 2x2 images, 5x7 (35 pixels: a partial 16), 9x9 and 64x64 (whole and partial runs of
  // 64 pixels, work for both threads).
  return {{1, 256, 1}, {1, 64, 4}, {2, 16, 35}, {2, 48, 81}, {1, 32, 64 * 64}};
}

class ChannelBlocks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cyclegan::channel_blocks::float_available()) GTEST_SKIP() << "no AVX-512 here";
    threads_ = at::get_num_threads();
    at::set_num_threads(2);
  }
  void TearDown() override {
    if (threads_ > 0) at::set_num_threads(threads_);
  }
  int threads_ = 0;
};

TEST_F(ChannelBlocks, FloatImagesGoIntoBlocksOf16ChannelsAndBack) {
  torch::manual_seed(4);
  for (const Images& shape : shapes()) {
    SCOPED_TRACE(c10::str(shape.images, "x", shape.channels, "x", shape.pixels));
    const at::Tensor plain = torch::randn({shape.images, shape.channels, shape.pixels});
    std::vector<float> blocked(static_cast<size_t>(plain.numel()), -1.0f);
    cyclegan::channel_blocks::to_blocks(plain.data_ptr<float>(), shape, blocked.data());
    const auto values = plain.accessor<float, 3>();
    int64_t mismatches = 0;
    for (int64_t n = 0; n < shape.images; ++n) {
      for (int64_t c = 0; c < shape.channels; ++c) {
        for (int64_t p = 0; p < shape.pixels; ++p) {
          mismatches +=
              blocked[static_cast<size_t>(blocked_index(shape, n, c, p))] != values[n][c][p];
        }
      }
    }
    EXPECT_EQ(mismatches, 0);

    const at::Tensor back = torch::full_like(plain, -1.0f);
    cyclegan::channel_blocks::from_blocks(blocked.data(), shape, back.data_ptr<float>());
    EXPECT_TRUE(torch::equal(back, plain));
  }
}

TEST_F(ChannelBlocks, Bf16BlocksHoldTheValuesRoundedToNearestEven) {
  if (!cyclegan::channel_blocks::bf16_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  torch::manual_seed(5);
  for (const Images& shape : shapes()) {
    SCOPED_TRACE(c10::str(shape.images, "x", shape.channels, "x", shape.pixels));
    const at::Tensor plain = torch::randn({shape.images, shape.channels, shape.pixels});
    std::vector<uint16_t> blocked(static_cast<size_t>(plain.numel()), 0xffff);
    cyclegan::channel_blocks::to_blocks_bf16(plain.data_ptr<float>(), shape, blocked.data());
    const at::Tensor rounded = plain.to(at::kBFloat16);
    const auto values = rounded.accessor<at::BFloat16, 3>();
    int64_t mismatches = 0;
    for (int64_t n = 0; n < shape.images; ++n) {
      for (int64_t c = 0; c < shape.channels; ++c) {
        for (int64_t p = 0; p < shape.pixels; ++p) {
          mismatches +=
              blocked[static_cast<size_t>(blocked_index(shape, n, c, p))] != values[n][c][p].x;
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST_F(ChannelBlocks, RefusesChannelCountsThatAreNotBlocksOf16) {
  std::vector<float> plain(3 * 16), blocked(3 * 16);
  EXPECT_THROW(cyclegan::channel_blocks::to_blocks(plain.data(), {1, 3, 16}, blocked.data()),
               c10::Error);
}

}  // namespace
