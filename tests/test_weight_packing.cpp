// The 4x4 weight packers against the layouts' definitions, element by element: which bf16 value
// each position of oneDNN's blocked layouts holds ("ABcd8a16b2a": blocks of 16 a (output
// channels) then of 16 b (input channels), the taps c, d, then inside a block 8 pairs of a, 16
// b, the pair's 2 a), and LibTorch's round-to-nearest-even bf16 conversion.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/weight_packing.h"

namespace {

using cyclegan::weight_packing::Bf16Layout;
using cyclegan::weight_packing::Paired;

uint16_t bits_of_bf16(float value) {
  const c10::BFloat16 rounded(value);  // round to nearest even
  return rounded.x;
}

// The 5x5 upsampling kernel's tap (row, column) of one 4x4 kernel w[y * 4 + x]: along each axis
// 5-tap t sums 4-tap indices {3}, {2, 3}, {1, 2}, {0, 1}, {0} (columns first, then rows).
float five_tap(const float* w, int row, int column) {
  const auto column_sum = [&](int y) {
    const float* r = w + 4 * y;
    switch (column) {
      case 0:
        return r[3];
      case 1:
        return r[2] + r[3];
      case 2:
        return r[1] + r[2];
      case 3:
        return r[0] + r[1];
      default:
        return r[0];
    }
  };
  switch (row) {
    case 0:
      return column_sum(3);
    case 1:
      return column_sum(2) + column_sum(3);
    case 2:
      return column_sum(1) + column_sum(2);
    case 3:
      return column_sum(0) + column_sum(1);
    default:
      return column_sum(0);
  }
}

struct Case {
  const char* name;
  int64_t out_channels, in_channels;
  bool inputs_outer;  // source [in][out][4][4]
  bool five_tap;
  Bf16Layout layout;
};

class WeightPacking : public ::testing::TestWithParam<Case> {};

TEST_P(WeightPacking, Bf16BlocksHoldEachTapWhereTheLayoutPutsIt) {
  if (!cyclegan::weight_packing::bf16_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  const Case c = GetParam();
  torch::manual_seed(7);
  const at::Tensor weight = c.inputs_outer ? torch::randn({c.in_channels, c.out_channels, 4, 4})
                                           : torch::randn({c.out_channels, c.in_channels, 4, 4});
  const int taps = c.five_tap ? 25 : 16;
  const int side = c.five_tap ? 5 : 4;
  std::vector<uint16_t> packed(static_cast<size_t>(c.out_channels * c.in_channels * taps), 0xffff);
  cyclegan::weight_packing::pack_bf16(
      {weight.data_ptr<float>(), c.out_channels, c.in_channels, c.inputs_outer}, c.five_tap,
      c.layout, packed.data());

  const int64_t out_blocks = c.out_channels / 16;
  const int64_t in_blocks = c.in_channels / 16;
  int64_t mismatches = 0;
  for (int64_t o = 0; o < c.out_channels; ++o) {
    for (int64_t i = 0; i < c.in_channels; ++i) {
      const float* kernel = weight.data_ptr<float>() +
                            (c.inputs_outer ? i * c.out_channels + o : o * c.in_channels + i) * 16;
      const int64_t block = c.layout.input_blocks_outer ? (i / 16) * out_blocks + o / 16
                                                        : (o / 16) * in_blocks + i / 16;
      const int64_t paired = c.layout.paired == Paired::kOutputs ? o % 16 : i % 16;
      const int64_t other = c.layout.paired == Paired::kOutputs ? i % 16 : o % 16;
      const int64_t inside = (paired / 2) * 32 + other * 2 + paired % 2;
      for (int row = 0; row < side; ++row) {
        for (int column = 0; column < side; ++column) {
          const float value = c.five_tap ? five_tap(kernel, row, column) : kernel[row * 4 + column];
          const int64_t at = (block * taps + row * side + column) * 256 + inside;
          if (packed[static_cast<size_t>(at)] != bits_of_bf16(value) && ++mismatches <= 5) {
            ADD_FAILURE() << "o " << o << " i " << i << " tap " << row << "," << column;
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, WeightPacking,
    ::testing::Values(Case{"Forward", 32, 48, false, false, {false, Paired::kInputs}},
                      Case{"DataGradient", 32, 48, false, false, {false, Paired::kOutputs}},
                      Case{"TransposedForward", 48, 16, true, false, {true, Paired::kOutputs}},
                      Case{"TransposedDataGradient", 16, 32, true, false, {true, Paired::kInputs}},
                      Case{"FiveTapForward", 32, 48, false, true, {true, Paired::kInputs}},
                      Case{"FiveTapDataGradient", 48, 32, false, true, {true, Paired::kOutputs}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(WeightPackingFloat, GradientComesOutOfItsBlocksIntoLibTorchsLayout) {
  if (!cyclegan::weight_packing::float_available()) GTEST_SKIP() << "no AVX-512 here";
  const int64_t out_channels = 48;
  const int64_t in_channels = 32;
  torch::manual_seed(3);
  const at::Tensor expected = torch::randn({out_channels, in_channels, 4, 4});
  // "ABcd16b16a": [o / 16][i / 16][tap][i % 16][o % 16].
  std::vector<float> blocked(static_cast<size_t>(expected.numel()));
  const float* plain = expected.data_ptr<float>();
  for (int64_t o = 0; o < out_channels; ++o) {
    for (int64_t i = 0; i < in_channels; ++i) {
      for (int64_t tap = 0; tap < 16; ++tap) {
        const int64_t block = (o / 16) * (in_channels / 16) + i / 16;
        blocked[static_cast<size_t>((block * 16 + tap) * 256 + (i % 16) * 16 + o % 16)] =
            plain[(o * in_channels + i) * 16 + tap];
      }
    }
  }
  const at::Tensor unblocked = torch::full_like(expected, -1.0f);
  cyclegan::weight_packing::unblock_float(blocked.data(), out_channels, in_channels,
                                          unblocked.data_ptr<float>());
  EXPECT_TRUE(torch::equal(unblocked, expected));
}

TEST(WeightPackingFloat, RefusesChannelCountsThatAreNotBlocksOf16) {
  if (!cyclegan::weight_packing::float_available()) GTEST_SKIP() << "no AVX-512 here";
  std::vector<float> source(24 * 16 * 16), target(24 * 16 * 16);
  EXPECT_THROW(cyclegan::weight_packing::unblock_float(source.data(), 24, 16, target.data()),
               c10::Error);
}

}  // namespace
