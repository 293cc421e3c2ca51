// The hand-written InstanceNorm and reflection padding (src/kernels/layer_kernels.cpp) must compute
// what LibTorch's operators compute, and the inference kernels be taken only where no gradient is
// needed; the training InstanceNorm (with its activation) must also give LibTorch's gradients.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convolution_checks.h"
#include "cyclegan/networks.h"
#include "kernels/layer_kernels.h"

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

struct NormKernelSwitch : testing::PolicySwitch<bool> {
  explicit NormKernelSwitch(bool on) : PolicySwitch(&kernels::Policy::norm_kernels, on) {}
};

TEST(LayerKernels, TrainingNormAndActivationMatchLibTorchsWithGradients) {
  torch::manual_seed(3);
  for (const auto& shape : kShapes) {
    for (const double slope : {0.0, 0.2, 1.0}) {
      SCOPED_TRACE(c10::str(shape, " slope ", slope));
      // An offset mean and a large spread, as above.
      const at::Tensor x = (torch::randn(shape) * 7 + 40).requires_grad_();
      const at::Tensor upstream = torch::randn(shape);
      const at::Tensor normalised =
          torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, false);
      const at::Tensor expected = torch::leaky_relu(normalised, slope);
      const at::Tensor expected_grad = torch::autograd::grad({expected}, {x}, {upstream})[0];
      ASSERT_TRUE(training_norm_kernels_apply(x));
      const at::Tensor actual = instance_norm_activation(x, 1e-5, slope);
      const at::Tensor actual_grad = torch::autograd::grad({actual}, {x}, {upstream})[0];
      ASSERT_EQ(actual.sizes(), expected.sizes());
      EXPECT_LT((actual - expected).abs().max().item<double>(), 2e-5);
      // Gradients scale with 1 / std (1/7 here); compare against their own size (a 1x1 plane's
      // is 0 up to rounding).
      const double grad_scale = std::max(expected_grad.abs().max().item<double>(), 1e-3);
      EXPECT_LT((actual_grad - expected_grad).abs().max().item<double>() / grad_scale, 1e-4);
      EXPECT_TRUE(torch::isfinite(actual_grad).all().item<bool>());
    }
  }
  // Inference takes the no-gradient kernel instead, and the switch turns this one off.
  EXPECT_FALSE(training_norm_kernels_apply(torch::randn({1, 2, 4, 4})));
  const NormKernelSwitch off(false);
  EXPECT_FALSE(training_norm_kernels_apply(torch::randn({1, 2, 4, 4}, torch::requires_grad())));
}

// Whole networks in training, fused norm kernels against LibTorch's operators: the same outputs
// and parameter gradients. The official U-Net rewrites an unactivated norm's output in place
// (LeakyReLU(inplace=True) at the start of the next block), which the kernel must allow.
TEST(LayerKernels, NetworksTrainAlikeWithAndWithoutTheNormKernels) {
  for (const std::string architecture : {"resnet_6blocks", "unet_128", "unet", "discriminator"}) {
    SCOPED_TRACE(architecture);
    torch::manual_seed(4);
    std::shared_ptr<torch::nn::Module> network;
    std::function<at::Tensor(const at::Tensor&)> forward;
    if (architecture == "discriminator") {
      auto discriminator = std::make_shared<PatchDiscriminatorImpl>(PatchDiscriminatorOptions());
      network = discriminator;
      forward = [discriminator](const at::Tensor& x) { return discriminator->forward(x); };
    } else {
      auto generator = make_generator(GeneratorOptions().architecture(architecture).ngf(8));
      network = generator;
      forward = [generator](const at::Tensor& x) { return generator->forward(x); };
    }
    init_weights(*network);
    const int64_t size = architecture == "resnet_6blocks" ? 32 : 128;
    const at::Tensor x = torch::rand({2, 3, size, size}) * 2 - 1;
    const auto run = [&](bool kernels) {
      const NormKernelSwitch path(kernels);
      return testing::output_and_parameter_gradients(*network, forward, x.clone().requires_grad_());
    };
    const auto expected = run(false);
    const auto actual = run(true);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const double scale = expected[i].abs().max().item<double>() + 1e-12;
      EXPECT_LT((actual[i] - expected[i]).abs().max().item<double>() / scale, 1e-4)
          << (i == 0 ? "output" : "gradient of parameter " + std::to_string(i - 1));
    }
  }
}

}  // namespace
}  // namespace cyclegan
