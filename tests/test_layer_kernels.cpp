// The hand-written InstanceNorm and reflection padding (src/layer_kernels.cpp) must compute what
// LibTorch's operators compute, and be taken only where no gradient is needed.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cyclegan/layer_kernels.h"
#include "cyclegan/networks.h"

namespace cyclegan {
namespace {

const std::vector<std::vector<int64_t>> kShapes = {
    {1, 256, 64, 64}, {2, 3, 17, 9}, {1, 5, 1, 1}, {3, 2, 4, 33}, {1, 64, 130, 2}};

TEST(LayerKernels, InstanceNormMatchesLibTorchsToFloatRounding) {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  for (const auto& shape : kShapes) {
    // An offset mean and a large spread: statistics summed in float lose digits here.
    const at::Tensor x = torch::randn(shape) * 7 + 40;
    const at::Tensor expected =
        torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, false);
    const at::Tensor actual = instance_norm_no_grad(x, 1e-5);
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_LT((actual - expected).abs().max().item<double>(), 2e-5) << x.sizes();
    // A constant plane has variance 0: the output is 0, not NaN.
    EXPECT_TRUE(torch::isfinite(actual).all().item<bool>()) << x.sizes();
  }
}

TEST(LayerKernels, ReflectionPadMatchesLibTorchsExactly) {
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;
  for (const auto& shape : kShapes) {
    const at::Tensor x = torch::randn(shape);
    for (const int64_t padding : {0, 1, 3}) {
      if (padding >= shape[2] || padding >= shape[3]) continue;
      const at::Tensor expected = torch::reflection_pad2d(x, {padding, padding, padding, padding});
      EXPECT_TRUE(torch::equal(reflection_pad_no_grad(x, padding), expected))
          << x.sizes() << " padding " << padding;
    }
  }
}

TEST(LayerKernels, TakenOnlyWhereNoGradientIsNeeded) {
  const at::Tensor needs_grad = torch::randn({1, 2, 4, 4}, torch::requires_grad());
  EXPECT_FALSE(layer_kernels_apply(needs_grad));
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(layer_kernels_apply(needs_grad));
  }
  EXPECT_TRUE(layer_kernels_apply(torch::randn({1, 2, 4, 4})));
  EXPECT_FALSE(layer_kernels_apply(torch::randn({1, 2, 4, 4}, torch::kDouble)));
  EXPECT_FALSE(layer_kernels_apply(torch::randn({1, 2, 4, 4}).transpose(2, 3)));
  EXPECT_FALSE(layer_kernels_apply(torch::randn({2, 4, 4})));
}

// A generator's output in inference (the kernels) equals its output with gradients recorded
// (LibTorch's operators), for the generators with reflection padding and InstanceNorm.
TEST(LayerKernels, GeneratorsGiveTheSameOutputWithAndWithoutGradients) {
  torch::manual_seed(2);
  for (const std::string architecture : {"resnet_6blocks", "unet_128"}) {
    auto generator = make_generator(GeneratorOptions().architecture(architecture).ngf(8));
    init_weights(*generator);
    const at::Tensor x = torch::rand({2, 3, 128, 128}) * 2 - 1;
    const at::Tensor with_gradients = generator->forward(x.clone().requires_grad_()).detach();
    at::Tensor without;
    {
      c10::InferenceMode inference;
      without = generator->forward(x);
    }
    EXPECT_LT((with_gradients - without).abs().max().item<double>(), 1e-5) << architecture;
  }
}

}  // namespace
}  // namespace cyclegan
