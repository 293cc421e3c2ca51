// The few-channel path (src/kernels/few_channel_conv.cpp) must compute what LibTorch's convolution
// computes, to float rounding, in the forward pass and in every gradient, and leave other
// convolutions on LibTorch's path.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convolution_checks.h"
#include "cyclegan/networks.h"
#include "kernels/few_channel_conv.h"

namespace cyclegan {
namespace {

struct FewChannelSwitch : testing::PolicySwitch<bool> {
  explicit FewChannelSwitch(bool on) : PolicySwitch(&kernels::Policy::few_channel_conv, on) {}
};

at::Tensor libtorch(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::conv2d(x, w, b);
}

at::Tensor ours(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return few_channel_conv2d(x, w, b);
}

TEST(FewChannelConv, ThreeOrFewerOutputsMatchLibTorchForwardAndInEveryGradient) {
  if (!few_channel_conv_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  torch::manual_seed(5);
  // Output widths below, at and across the kernel's 64-pixel blocks, and 1-3 outputs.
  for (const auto& [sizes, outputs, kernel] :
       std::vector<std::tuple<std::vector<int64_t>, int64_t, int64_t>>{{{2, 16, 20, 20}, 3, 7},
                                                                       {{1, 8, 13, 70}, 3, 7},
                                                                       {{2, 5, 9, 135}, 1, 3},
                                                                       {{1, 24, 71, 9}, 2, 5}}) {
    const at::Tensor x = torch::randn(sizes, torch::requires_grad());
    const at::Tensor w =
        (torch::randn({outputs, sizes[1], kernel, kernel}) * 0.05).requires_grad_();
    const at::Tensor b = torch::randn({outputs}, torch::requires_grad());
    const auto result = testing::expect_same_output_and_gradients(x, w, b, libtorch, ours);
    // Our kernel ran: it sums in another order than oneDNN, so some bits differ.
    EXPECT_FALSE(torch::equal(result.actual, result.expected)) << c10::IntArrayRef(sizes);
    // Without gradients (translation) it is LibTorch's own convolution, bit for bit.
    c10::InferenceMode inference;
    EXPECT_TRUE(torch::equal(few_channel_conv2d(x.detach(), w.detach(), b.detach()),
                             result.expected.detach()));
  }
}

TEST(FewChannelConv, ThreeOrFewerInputsGetTheirInputGradientFromTheKernel) {
  if (!few_channel_conv_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  torch::manual_seed(6);
  const at::Tensor x = torch::randn({2, 3, 40, 75}, torch::requires_grad());
  const at::Tensor w = (torch::randn({32, 3, 7, 7}) * 0.05).requires_grad_();
  const at::Tensor b = torch::randn({32}, torch::requires_grad());
  testing::expect_same_output_and_gradients(x, w, b, libtorch, ours);

  const at::Tensor upstream = torch::randn({2, 32, 34, 69});
  const at::Tensor ours_grad = torch::autograd::grad({ours(x, w, b)}, {x}, {upstream})[0];
  const at::Tensor their_grad = torch::autograd::grad({libtorch(x, w, b)}, {x}, {upstream})[0];
  EXPECT_FALSE(torch::equal(ours_grad, their_grad));
  // An input that needs no gradient (the real images) gets none computed, and the weight's
  // gradient is still LibTorch's.
  const at::Tensor image = x.detach();
  const auto weight_grads = torch::autograd::grad({ours(image, w, b)}, {w, b}, {upstream});
  const auto expected = torch::autograd::grad({libtorch(image, w, b)}, {w, b}, {upstream});
  EXPECT_TRUE(torch::equal(weight_grads[0], expected[0]));
  EXPECT_TRUE(torch::equal(weight_grads[1], expected[1]));
}

TEST(FewChannelConv, OtherConvolutionsAndTheSwitchOffTakeLibTorchsPath) {
  torch::manual_seed(7);
  const at::Tensor x = torch::randn({1, 8, 12, 12});
  const at::Tensor w = torch::randn({8, 8, 3, 3});
  const at::Tensor b = torch::randn({8});
  EXPECT_TRUE(torch::equal(few_channel_conv2d(x, w, b), at::conv2d(x, w, b)));
  const at::Tensor w3 = torch::randn({3, 8, 7, 7});
  const at::Tensor b3 = torch::randn({3});
  const at::Tensor xd = x.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(few_channel_conv2d(xd, w3.to(torch::kDouble), b3.to(torch::kDouble)),
                           at::conv2d(xd, w3.to(torch::kDouble), b3.to(torch::kDouble))));
  const FewChannelSwitch off(false);
  EXPECT_TRUE(torch::equal(few_channel_conv2d(x, w3, b3), at::conv2d(x, w3, b3)));
}

TEST(FewChannelConv, ResnetGeneratorsEdgeLayersTakeIt) {
  // The first and last 7x7 layers, keys and shapes unchanged (model.1 and model.26 for 9 blocks).
  auto generator = make_generator(GeneratorOptions().architecture("resnet_6blocks").ngf(8));
  int64_t edges = 0;
  for (const auto& module : generator->modules()) {
    const auto* edge = dynamic_cast<const torch::nn::Conv2dImpl*>(module.get());
    if (edge != nullptr && (edge->weight.size(0) == 3 || edge->weight.size(1) == 3)) {
      EXPECT_EQ(edge->weight.size(2), 7);
      EXPECT_TRUE(edge->weight.size(0) == 3 || edge->weight.size(1) == 3);
      ++edges;
    }
  }
  EXPECT_EQ(edges, 2);
  const at::Tensor x = torch::rand({1, 3, 32, 32}, torch::requires_grad()) * 2 - 1;
  const at::Tensor with_kernel = generator->forward(x);
  const FewChannelSwitch off(false);
  const at::Tensor without = generator->forward(x);
  EXPECT_LT(testing::relative_difference(with_kernel, without), 1e-5);
  if (few_channel_conv_available()) {
    EXPECT_FALSE(torch::equal(with_kernel, without));  // the kernels ran
  }
}

}  // namespace
}  // namespace cyclegan
