// The Winograd path (src/kernels/winograd.cpp) must compute what LibTorch's direct convolution
// computes, to float rounding, in the forward pass and in both gradients, and leave everything it
// does not apply to on LibTorch's path.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convolution_checks.h"
#include "cyclegan/networks.h"
#include "kernels/winograd.h"

namespace cyclegan {
namespace {

struct WinogradSwitch : testing::PolicySwitch<bool> {
  explicit WinogradSwitch(bool on) : PolicySwitch(&kernels::Policy::winograd, on) {}
};

TEST(Winograd, ForwardAndGradientsMatchLibTorchsConvolution) {
  if (!winograd_available()) GTEST_SKIP() << "built without oneDNN's API, or no AVX-512";
  torch::manual_seed(3);
  // Odd sizes and channel counts that are not multiples of the kernels' 16-wide blocks.
  for (const auto& sizes : std::vector<std::vector<int64_t>>{{2, 32, 12, 12}, {1, 20, 9, 14}}) {
    const int64_t channels = sizes[1];
    const at::Tensor x = torch::randn(sizes, torch::requires_grad());
    const at::Tensor w = (torch::randn({channels + 4, channels, 3, 3}) * 0.1).requires_grad_();
    const at::Tensor b = torch::randn({channels + 4}, torch::requires_grad());
    const auto direct = [](const at::Tensor& input, const at::Tensor& weight,
                           const at::Tensor& bias) { return at::conv2d(input, weight, bias); };
    const auto winograd = [](const at::Tensor& input, const at::Tensor& weight,
                             const at::Tensor& bias) {
      return winograd_conv3x3(input, weight, bias);
    };
    const at::Tensor expected =
        testing::expect_same_output_and_gradients(x, w, b, direct, winograd).expected;
    // Without gradients (translation) it is LibTorch's own convolution, bit for bit.
    c10::InferenceMode inference;
    EXPECT_TRUE(
        torch::equal(winograd_conv3x3(x.detach(), w.detach(), b.detach()), expected.detach()));
  }
}

TEST(Winograd, OtherInputsTakeLibTorchsPath) {
  torch::manual_seed(4);
  const at::Tensor x = torch::randn({1, 4, 6, 6}, torch::kDouble);
  const at::Tensor w = torch::randn({4, 4, 3, 3}, torch::kDouble);
  const at::Tensor b = torch::randn({4}, torch::kDouble);
  EXPECT_FALSE(winograd_applies(x, w));
  EXPECT_TRUE(torch::equal(winograd_conv3x3(x, w, b), at::conv2d(x, w, b)));
  const WinogradSwitch off(false);
  const at::Tensor xf = x.to(torch::kFloat);
  const at::Tensor wf = w.to(torch::kFloat);
  EXPECT_FALSE(winograd_applies(xf, wf));
  EXPECT_TRUE(torch::equal(winograd_conv3x3(xf, wf, b.to(torch::kFloat)),
                           at::conv2d(xf, wf, b.to(torch::kFloat))));
}

TEST(Winograd, ResnetGeneratorGradientsAreAsAccurateAsLibTorchs) {
  if (!winograd_available()) GTEST_SKIP() << "built without oneDNN's API, or no AVX-512";
  torch::manual_seed(5);
  auto generator = make_generator(GeneratorOptions().architecture("resnet_6blocks").ngf(16));
  init_weights(*generator);
  const at::Tensor x = torch::rand({1, 3, 32, 32}) * 2 - 1;

  // Loss and gradients of one pass; `precise` runs it in float64 (LibTorch's path) as the truth.
  auto loss_and_grads = [&](bool winograd, bool precise) {
    const WinogradSwitch use(winograd);
    if (precise) generator->to(torch::kDouble);
    generator->zero_grad();
    const at::Tensor loss = generator->forward(precise ? x.to(torch::kDouble) : x).abs().mean();
    loss.backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : generator->parameters())
      grads.push_back(p.grad().to(torch::kDouble).clone());
    generator->to(torch::kFloat);
    return std::make_pair(loss.item<double>(), grads);
  };
  const auto truth = loss_and_grads(false, true);
  const double true_loss = truth.first;
  const std::vector<at::Tensor>& true_grads = truth.second;
  // The biases of convolutions followed by InstanceNorm have a zero gradient in exact arithmetic
  // (the norm removes any constant): theirs is rounding noise, so every gradient is measured
  // against the largest gradient of the network.
  double largest = 0;
  for (const auto& grad : true_grads) largest = std::max(largest, grad.abs().max().item<double>());
  auto error = [&](const std::vector<at::Tensor>& grads) {
    double worst = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      worst = std::max(worst, (grads[i] - true_grads[i]).abs().max().item<double>() / largest);
    }
    return worst;
  };
  const auto [direct_loss, direct_grads] = loss_and_grads(false, false);
  const auto [winograd_loss, winograd_grads] = loss_and_grads(true, false);
  EXPECT_NEAR(winograd_loss, true_loss, 1e-5 * true_loss);
  EXPECT_NEAR(direct_loss, true_loss, 1e-5 * true_loss);
  const double direct_error = error(direct_grads);
  const double winograd_error = error(winograd_grads);
  std::cout << "  resnet_6blocks ngf 16 at 32x32, gradient error against float64: direct "
            << direct_error << ", Winograd " << winograd_error << "\n";
  EXPECT_LT(winograd_error, 1e-4);
  EXPECT_LT(winograd_error, 10 * direct_error);  // the same order as the direct path's rounding
}

TEST(Winograd, FastTranslationStaysCloseToTheExactPath) {
  if (!winograd_available()) GTEST_SKIP() << "built without oneDNN's API, or no AVX-512";
  torch::manual_seed(3);
  auto generator = make_generator(GeneratorOptions().architecture("resnet_9blocks").ngf(16));
  init_weights(*generator);
  generator->eval();
  c10::InferenceMode inference;
  // At 128 px the blocks' convolutions read 34x34 inputs: Winograd. At 64 px, 18x18: below
  // 24x24 the direct convolution is faster, and stays.
  const at::Tensor image = torch::rand({1, 3, 128, 128}) * 2 - 1;
  const at::Tensor small_image = torch::rand({1, 3, 64, 64}) * 2 - 1;
  const at::Tensor exact = generator->forward(image);
  const at::Tensor small_exact = generator->forward(small_image);
  at::Tensor fast;
  at::Tensor small_fast;
  {
    const testing::PolicySwitch<bool> for_inference(&kernels::Policy::winograd_for_inference, true);
    fast = generator->forward(image);
    small_fast = generator->forward(small_image);
  }
  const double difference = (fast - exact).abs().max().item<double>();
  std::cout << "  resnet_9blocks ngf 16 at 128x128: translate (Winograd, its default) differs by "
            << difference << " (output range [-1, 1])\n";
  EXPECT_GT(difference, 0.0);  // the Winograd path was taken
  EXPECT_LT(difference, 1e-4);
  EXPECT_TRUE(torch::equal(small_fast, small_exact));           // it was not, on 18x18 inputs
  EXPECT_TRUE(torch::equal(generator->forward(image), exact));  // and is off again
}

}  // namespace
}  // namespace cyclegan
