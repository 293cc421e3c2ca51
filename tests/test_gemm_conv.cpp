// oneDNN's GEMM path (src/gemm_conv.cpp) must compute what LibTorch computes, to float rounding,
// in the forward pass and in all gradients, for the shapes our networks use, and leave everything
// it does not apply to on LibTorch's path.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convolution_checks.h"
#include "cyclegan/gemm_conv.h"
#include "cyclegan/networks.h"

namespace cyclegan {
namespace {

using testing::expect_same_output_and_gradients;
using testing::relative_difference;

// Restores the process-wide switch however a test ends.
class GemmSwitch {
 public:
  explicit GemmSwitch(bool on) : before_(gemm_conv_enabled()) { set_gemm_conv_enabled(on); }
  ~GemmSwitch() { set_gemm_conv_enabled(before_); }

 private:
  bool before_;
};

struct Geometry {
  bool transposed;
  std::vector<int64_t> input_sizes;
  int64_t out_channels, kernel, stride, padding, output_padding;
};

TEST(GemmConv, ForwardAndGradientsMatchLibTorchs) {
  if (!gemm_conv_available()) GTEST_SKIP() << "built without oneDNN's API";
  torch::manual_seed(11);
  // Transposed: the official U-Net's 4x4/2/1 (with a 3-channel output), the ResNet's 3x3/2/1
  // with output padding 1, the book U-Net's 5x5/2/2/1. Convolutions: the 4x4/2/1 downsampling,
  // the discriminator's 4x4/1/1, the ResNet's 3x3/2/1 on an odd size (the last padding row is
  // never read) and 7x7 unpadded. Odd sizes and channel counts are off the kernels' blocks. The
  // first four transposed ones have weights no larger than twice an image's output, so their
  // gradients take the blocked kernels; the last two keep GEMM's.
  const std::vector<Geometry> geometries = {
      {true, {2, 32, 8, 8}, 16, 4, 2, 1, 0},
      {true, {1, 24, 16, 16}, 3, 4, 2, 1, 0},
      {true, {1, 20, 7, 9}, 12, 3, 2, 1, 1},
      {true, {2, 9, 5, 6}, 7, 5, 2, 2, 1},
      // fewer input pixels than channels: the weight gradient as one matrix product
      {true, {2, 64, 2, 2}, 32, 4, 2, 1, 0},
      {true, {1, 40, 3, 5}, 12, 3, 2, 1, 1},
      {false, {2, 16, 16, 12}, 24, 4, 2, 1, 0},
      {false, {1, 32, 16, 16}, 16, 4, 1, 1, 0},
      {false, {1, 12, 9, 11}, 20, 3, 2, 1, 0},
      {false, {1, 3, 14, 14}, 16, 7, 1, 0, 0}};
  for (const Geometry& g : geometries) {
    SCOPED_TRACE(std::string(g.transposed ? "transposed" : "convolution") + " input " +
                 c10::str(g.input_sizes) + " kernel " + std::to_string(g.kernel));
    const int64_t in_channels = g.input_sizes[1];
    const std::vector<int64_t> weight_sizes =
        g.transposed ? std::vector<int64_t>{in_channels, g.out_channels, g.kernel, g.kernel}
                     : std::vector<int64_t>{g.out_channels, in_channels, g.kernel, g.kernel};
    const at::Tensor x = torch::randn(g.input_sizes, torch::requires_grad());
    const at::Tensor w = (torch::randn(weight_sizes) * 0.1).requires_grad_();
    const at::Tensor b = torch::randn({g.out_channels}, torch::requires_grad());
    ASSERT_TRUE(gemm_conv_applies(x, w, b, g.stride, g.padding, g.output_padding, g.transposed));

    const auto libtorch = [&](const at::Tensor& input, const at::Tensor& weight,
                              const at::Tensor& bias) {
      return g.transposed
                 ? at::conv_transpose2d(input, weight, bias, g.stride, g.padding, g.output_padding)
                 : at::conv2d(input, weight, bias, g.stride, g.padding);
    };
    const auto ours = [&](const at::Tensor& input, const at::Tensor& weight,
                          const at::Tensor& bias) {
      return g.transposed
                 ? conv_transpose2d(input, weight, bias, g.stride, g.padding, g.output_padding)
                 : conv2d(input, weight, bias, g.stride, g.padding);
    };
    const at::Tensor actual = expect_same_output_and_gradients(x, w, b, libtorch, ours).actual;
    // Without gradients (translation) the same kernels run, forward only.
    c10::InferenceMode inference;
    EXPECT_TRUE(torch::equal(ours(x.detach(), w.detach(), b.detach()), actual.detach()));
  }
}

TEST(GemmConv, UpsampleAndPaddedConvEqualOneStride2TransposedConv) {
  torch::manual_seed(12);
  for (bool onednn : {true, false}) {
    if (onednn && !gemm_conv_available()) continue;
    SCOPED_TRACE(onednn ? "oneDNN" : "LibTorch");
    const GemmSwitch path(onednn);
    // Odd sizes reach both borders' special cases (the last row reads zero padding twice); at
    // least 16x16 pixels take the transposed-convolution path.
    const at::Tensor x = torch::randn({2, 6, 17, 19}, torch::requires_grad());
    const at::Tensor w = (torch::randn({5, 6, 4, 4}) * 0.2).requires_grad_();
    const at::Tensor b = torch::randn({5}, torch::requires_grad());

    // What the book's Keras model computes: UpSampling2D, then Conv2D(4, padding='same'), which
    // pads 1 before and 2 after.
    const auto keras = [](const at::Tensor& input, const at::Tensor& weight,
                          const at::Tensor& bias) {
      const at::Tensor upsampled = at::upsample_nearest2d(input, {34, 38});
      return at::conv2d(at::constant_pad_nd(upsampled, {1, 2, 1, 2}), weight, bias);
    };
    const auto ours = [](const at::Tensor& input, const at::Tensor& weight,
                         const at::Tensor& bias) {
      return upsample_nearest_conv4x4(input, weight, bias);
    };
    expect_same_output_and_gradients(x, w, b, keras, ours);
  }
}

TEST(GemmConv, OtherInputsTakeLibTorchsPath) {
  torch::manual_seed(13);
  const at::Tensor x = torch::randn({1, 4, 6, 6}, torch::kDouble);
  const at::Tensor w = torch::randn({4, 3, 4, 4}, torch::kDouble);
  const at::Tensor b = torch::randn({3}, torch::kDouble);
  EXPECT_FALSE(gemm_conv_applies(x, w, b, 2, 1, 0, true));
  EXPECT_TRUE(
      torch::equal(conv_transpose2d(x, w, b, 2, 1, 0), at::conv_transpose2d(x, w, b, 2, 1)));

  const at::Tensor xf = x.to(torch::kFloat);
  const at::Tensor wf = w.to(torch::kFloat);
  const at::Tensor bf = b.to(torch::kFloat);
  EXPECT_FALSE(gemm_conv_applies(xf, wf, at::Tensor(), 2, 1, 0, true));  // no bias
  EXPECT_FALSE(gemm_conv_applies(xf, wf, bf, 2, 0, 1, true));            // output padding > padding
  // Convolutions where LibTorch's is faster: a 3-channel output, a large output.
  const at::Tensor big = torch::randn({1, 16, 80, 80});
  EXPECT_FALSE(
      gemm_conv_applies(big, torch::randn({3, 16, 3, 3}), torch::randn({3}), 1, 1, 0, false));
  EXPECT_FALSE(
      gemm_conv_applies(big, torch::randn({32, 16, 3, 3}), torch::randn({32}), 1, 1, 0, false));
  const GemmSwitch off(false);
  EXPECT_FALSE(gemm_conv_applies(xf, wf, bf, 2, 1, 0, true));
  EXPECT_FALSE(gemm_conv_applies(xf, wf.transpose(0, 1).contiguous(), bf, 2, 1, 0, false));
  EXPECT_TRUE(
      torch::equal(conv_transpose2d(xf, wf, bf, 2, 1, 0), at::conv_transpose2d(xf, wf, bf, 2, 1)));
}

// Whole networks: the optimised layers change no output or gradient beyond float rounding, with
// the official ResNet's and U-Net's transposed convs and the book U-Net's upsample + conv steps.
TEST(GemmConv, NetworksComputeWhatLibTorchComputes) {
  if (!gemm_conv_available()) GTEST_SKIP() << "built without oneDNN's API";
  for (const std::string architecture : {"resnet_6blocks", "unet_128", "unet"}) {
    SCOPED_TRACE(architecture);
    torch::manual_seed(14);
    auto generator = make_generator(GeneratorOptions().architecture(architecture).ngf(8));
    std::shared_ptr<torch::nn::Module> network = generator;
    init_weights(*network);
    const int64_t size = architecture == "unet_128" ? 128 : architecture == "unet" ? 64 : 32;
    const at::Tensor x = torch::rand({1, 3, size, size}) * 2 - 1;
    const auto run = [&](bool onednn) {
      const GemmSwitch path(onednn);
      network->zero_grad();
      const at::Tensor y = generator->forward(x.clone());
      y.square().mean().backward();
      std::vector<at::Tensor> results{y.detach()};
      // Biases followed by an InstanceNorm have an exact gradient of zero: theirs is rounding
      // noise on either path.
      const auto cancelled = biases_cancelled_by_normalisation(*network);
      for (const auto& parameter : network->parameters()) {
        const bool noise = std::any_of(cancelled.begin(), cancelled.end(),
                                       [&](const at::Tensor& b) { return b.is_same(parameter); });
        if (!noise) results.push_back(parameter.grad());
      }
      return results;
    };
    const auto expected = run(false);
    const auto actual = run(true);
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_LT(relative_difference(actual[0], expected[0]), 1e-5) << "output";
    double worst_gradient = 0;
    for (size_t i = 1; i < actual.size(); ++i) {
      worst_gradient = std::max(worst_gradient, relative_difference(actual[i], expected[i]));
    }
    EXPECT_LT(worst_gradient, 1e-4);
  }
}

}  // namespace
}  // namespace cyclegan
