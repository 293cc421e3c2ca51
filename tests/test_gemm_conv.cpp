// oneDNN's GEMM path (src/kernels/gemm_conv.cpp) must compute what LibTorch computes, to float
// rounding, in the forward pass and in all gradients, for the shapes our networks use, and leave
// everything it does not apply to on LibTorch's path.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "convolution_checks.h"
#include "cyclegan/networks.h"
#include "kernels/gemm_conv.h"
#include "optimizer.h"

namespace cyclegan {
namespace {

using testing::expect_same_output_and_gradients;
using testing::relative_difference;

struct GemmSwitch : testing::PolicySwitch<bool> {
  explicit GemmSwitch(bool on) : PolicySwitch(&kernels::Policy::gemm_conv, on) {}
};

struct PrecisionSwitch : testing::PolicySwitch<kernels::Precision> {
  explicit PrecisionSwitch(kernels::Precision precision)
      : PolicySwitch(&kernels::Policy::precision, precision) {}
};

struct Geometry {
  bool transposed;
  std::vector<int64_t> input_sizes;
  int64_t out_channels, kernel, stride, padding, output_padding;

  std::string description() const {
    return std::string(transposed ? "transposed" : "convolution") + " input " +
           c10::str(input_sizes) + " kernel " + std::to_string(kernel);
  }
};

// Random input, weight (PyTorch's layout for the kind) and bias of a geometry, all requiring
// gradients.
struct Operands {
  at::Tensor x, w, b;
};

Operands random_operands(const Geometry& g) {
  const int64_t in_channels = g.input_sizes[1];
  const std::vector<int64_t> weight_sizes =
      g.transposed ? std::vector<int64_t>{in_channels, g.out_channels, g.kernel, g.kernel}
                   : std::vector<int64_t>{g.out_channels, in_channels, g.kernel, g.kernel};
  return {torch::randn(g.input_sizes, torch::requires_grad()),
          (torch::randn(weight_sizes) * 0.1).requires_grad_(),
          torch::randn({g.out_channels}, torch::requires_grad())};
}

TEST(GemmConv, ForwardAndGradientsMatchLibTorchs) {
  if (!gemm_conv_available()) GTEST_SKIP() << "built without oneDNN's API";
  torch::manual_seed(11);
  // Transposed: the official U-Net's 4x4/2/1 (with a 3-channel output), the ResNet's 3x3/2/1
  // with output padding 1, the book U-Net's 5x5/2/2/1. Convolutions: the 4x4/2/1 downsampling,
  // the discriminator's 4x4/1/1, the ResNet's 3x3/2/1 on an odd size (the last padding row is
  // never read) and 7x7 unpadded. Odd sizes and channel counts are off the kernels' blocks. The
  // first four transposed ones have weights no larger than twice an image's output, so their
  // gradients take the blocked kernels; the last three keep GEMM's.
  const std::vector<Geometry> geometries = {
      {true, {2, 32, 8, 8}, 16, 4, 2, 1, 0},
      {true, {1, 24, 16, 16}, 3, 4, 2, 1, 0},
      {true, {1, 20, 7, 9}, 12, 3, 2, 1, 1},
      {true, {2, 9, 5, 6}, 7, 5, 2, 2, 1},
      // fewer input pixels than channels: the weight gradient as one matrix product
      {true, {2, 64, 2, 2}, 32, 4, 2, 1, 0},
      {true, {1, 40, 3, 5}, 12, 3, 2, 1, 1},
      {true, {2, 48, 3, 4}, 8, 5, 2, 2, 1},
      {false, {2, 16, 16, 12}, 24, 4, 2, 1, 0},
      {false, {1, 32, 16, 16}, 16, 4, 1, 1, 0},
      {false, {1, 12, 9, 11}, 20, 3, 2, 1, 0},
      {false, {1, 3, 14, 14}, 16, 7, 1, 0, 0}};
  for (const Geometry& g : geometries) {
    SCOPED_TRACE(g.description());
    const Operands operands = random_operands(g);
    const at::Tensor &x = operands.x, &w = operands.w, &b = operands.b;
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
  // Odd sizes reach both borders' special cases (the last row reads zero padding twice). The
  // weight gradient takes each of the paths: GEMM on LibTorch's layout; oneDNN's blocked kernels
  // (a weight small against its image), read straight from their 16x16 blocks; one matrix
  // product (fewer input pixels than channels).
  struct Case {
    std::vector<int64_t> input_sizes;
    int64_t out_channels;
  };
  for (const Case& c :
       {Case{{2, 6, 17, 19}, 5}, Case{{1, 32, 16, 17}, 16}, Case{{1, 64, 4, 4}, 8}}) {
    const int64_t height = c.input_sizes[2];
    const int64_t width = c.input_sizes[3];
    for (bool onednn : {true, false}) {
      if (onednn && !gemm_conv_available()) continue;
      SCOPED_TRACE((onednn ? "oneDNN, input " : "LibTorch, input ") + c10::str(c.input_sizes));
      const GemmSwitch path(onednn);
      const at::Tensor x = torch::randn(c.input_sizes, torch::requires_grad());
      const at::Tensor w =
          (torch::randn({c.out_channels, c.input_sizes[1], 4, 4}) * 0.2).requires_grad_();
      const at::Tensor b = torch::randn({c.out_channels}, torch::requires_grad());

      // What the book's Keras model computes: UpSampling2D, then Conv2D(4, padding='same'),
      // which pads 1 before and 2 after.
      const auto keras = [&](const at::Tensor& input, const at::Tensor& weight,
                             const at::Tensor& bias) {
        const at::Tensor upsampled = at::upsample_nearest2d(input, {2 * height, 2 * width});
        return at::conv2d(at::constant_pad_nd(upsampled, {1, 2, 1, 2}), weight, bias);
      };
      const auto ours = [](const at::Tensor& input, const at::Tensor& weight,
                           const at::Tensor& bias) {
        return upsample_nearest_conv4x4(input, weight, bias);
      };
      expect_same_output_and_gradients(x, w, b, keras, ours);
    }
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

at::Tensor rounded_to_bf16(const at::Tensor& x) { return x.to(at::kBFloat16).to(at::kFloat); }

// bf16 training: the kernels read the input, weight and output gradient rounded to bf16 and
// accumulate in float32. So they must match LibTorch's float32 convolution of the rounded
// operands to float rounding, and differ from the unrounded one by bf16's rounding (else the
// bf16 kernels did not run).
TEST(GemmConv, Bf16TrainingRoundsTheOperandsAndAccumulatesInFloat32) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  const PrecisionSwitch bf16(kernels::Precision::kBFloat16);
  torch::manual_seed(15);
  // The book U-Net's down and up (5x5 transposed) layers, the discriminator's 4x4/1/1, a
  // 3-channel input and a 3-channel transposed output, a weight outweighing its image. (A
  // transposed convolution with fewer input pixels than channels computes its weight gradient
  // as one float32 matrix product, unrounded, in bf16 too: few_pixels_for_the_weights.)
  const std::vector<Geometry> geometries = {
      {false, {1, 3, 32, 32}, 16, 4, 2, 1, 0}, {false, {2, 16, 16, 12}, 24, 4, 2, 1, 0},
      {false, {1, 32, 9, 9}, 16, 4, 1, 1, 0},  {true, {2, 9, 5, 6}, 7, 5, 2, 2, 1},
      {true, {1, 24, 16, 16}, 3, 4, 2, 1, 0},  {true, {1, 32, 8, 8}, 16, 4, 2, 1, 0}};
  for (const Geometry& g : geometries) {
    SCOPED_TRACE(g.description());
    const Operands operands = random_operands(g);
    const at::Tensor &x = operands.x, &w = operands.w, &b = operands.b;
    ASSERT_TRUE(gemm_conv_applies(x, w, b, g.stride, g.padding, g.output_padding, g.transposed));
    const auto libtorch = [&](const at::Tensor& input, const at::Tensor& weight) {
      return g.transposed
                 ? at::conv_transpose2d(input, weight, b, g.stride, g.padding, g.output_padding)
                 : at::conv2d(input, weight, b, g.stride, g.padding);
    };
    const at::Tensor actual = g.transposed
                                  ? conv_transpose2d(x, w, b, g.stride, g.padding, g.output_padding)
                                  : conv2d(x, w, b, g.stride, g.padding);
    const at::Tensor upstream = torch::randn(actual.sizes());
    const auto actual_grads = torch::autograd::grad({actual}, {x, w, b}, {upstream});

    // LibTorch on the rounded operands (and the rounded upstream gradient).
    const at::Tensor x_rounded = rounded_to_bf16(x.detach()).requires_grad_();
    const at::Tensor w_rounded = rounded_to_bf16(w.detach()).requires_grad_();
    const at::Tensor expected = libtorch(x_rounded, w_rounded);
    const auto expected_grads =
        torch::autograd::grad({expected}, {x_rounded, w_rounded, b}, {rounded_to_bf16(upstream)});
    EXPECT_LT(relative_difference(actual, expected), 1e-5) << "output";
    const char* names[] = {"input", "weight", "bias"};
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LT(relative_difference(actual_grads[i], expected_grads[i]), 1e-5) << names[i];
    }
    // LibTorch on the unrounded operands: bf16 keeps 8 significant bits.
    const at::Tensor unrounded = libtorch(x.detach(), w.detach());
    EXPECT_GT(relative_difference(actual, unrounded), 1e-4);
    EXPECT_LT(relative_difference(actual, unrounded), 2e-2);
  }
}

TEST(GemmConv, Bf16LeavesInferenceInFloat32) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  torch::manual_seed(16);
  const at::Tensor x = torch::randn({1, 32, 8, 8});
  const at::Tensor w = torch::randn({32, 16, 4, 4}) * 0.1;
  const at::Tensor b = torch::randn({16});
  const at::Tensor float32 = conv_transpose2d(x, w, b, 2, 1, 0);
  const PrecisionSwitch bf16(kernels::Precision::kBFloat16);
  EXPECT_TRUE(torch::equal(conv_transpose2d(x, w, b, 2, 1, 0), float32));
  const at::Tensor w_trained = w.clone().requires_grad_();
  {
    torch::NoGradGuard no_grad;  // as translate and the samples run
    EXPECT_TRUE(torch::equal(conv_transpose2d(x, w_trained, b, 2, 1, 0), float32));
  }
  EXPECT_FALSE(torch::equal(conv_transpose2d(x, w_trained, b, 2, 1, 0).detach(), float32));
}

// The book U-Net's last upsampling step (a few output channels) takes one 3x3 kernel per output
// pixel parity in bf16 training, built from the 4x4 taps: it must compute the upsampled conv to
// bf16's rounding, forward and in every gradient. A wrong tap would be off by the weights'
// size, 30 times the tolerance.
TEST(GemmConv, Bf16UpsampledConvToFewChannelsMatchesFloat32ToRounding) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  torch::manual_seed(17);
  // Odd sizes reach both borders' special cases.
  const at::Tensor x = torch::randn({2, 32, 17, 19}, torch::requires_grad());
  const at::Tensor w = (torch::randn({3, 32, 4, 4}) * 0.1).requires_grad_();
  const at::Tensor b = torch::randn({3}, torch::requires_grad());
  const at::Tensor upstream = torch::randn({2, 3, 34, 38});
  const at::Tensor expected =
      at::conv2d(at::constant_pad_nd(at::upsample_nearest2d(x, {34, 38}), {1, 2, 1, 2}), w, b);
  const auto expected_grads = torch::autograd::grad({expected}, {x, w, b}, {upstream});
  const PrecisionSwitch bf16(kernels::Precision::kBFloat16);
  const at::Tensor actual = upsample_nearest_conv4x4(x, w, b);
  const auto actual_grads = torch::autograd::grad({actual}, {x, w, b}, {upstream});
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_LT(relative_difference(actual, expected), 2e-2) << "output";
  EXPECT_GT(relative_difference(actual, expected), 1e-5) << "output: bf16 did not run";
  const char* names[] = {"input", "weight", "bias"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(relative_difference(actual_grads[i], expected_grads[i]), 2e-2) << names[i];
  }
}

struct WeightCopiesSwitch : testing::PolicySwitch<bool> {
  explicit WeightCopiesSwitch(bool on) : PolicySwitch(&kernels::Policy::bf16_weight_copies, on) {}
};

// bf16 training keeps each weight's bf16 copies between its updates. A copy outliving an update
// would make every later step compute with old weights, silently; so two steps, with an in-place
// update between them as the optimizer makes, must compute exactly what converting the weights
// for every pass computes. The upsampling step (a 4x4 weight whose 5x5 kernel the copies hold)
// must also match float32 to bf16's rounding.
TEST(GemmConv, Bf16WeightCopiesFollowEveryUpdateOfTheWeights) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  struct Step {
    at::Tensor output;
    std::vector<at::Tensor> gradients;  // input, down weight, upsampling weight
  };
  // 32 upsampled channels: the kept copies of the 5x5 kernel come straight from the 4x4 weight
  // (weight_packing), the converted ones from oneDNN's reorder of the float32 5x5 kernel; 24:
  // both from oneDNN's.
  for (const int64_t up_channels : {32, 24}) {
    SCOPED_TRACE("upsampling to " + std::to_string(up_channels) + " channels");
    const auto two_steps = [up_channels](bool copies, kernels::Precision precision) {
      const WeightCopiesSwitch copies_switch(copies);
      const PrecisionSwitch precision_switch(precision);
      torch::manual_seed(18);
      const at::Tensor x = torch::randn({2, 16, 16, 16}, torch::requires_grad());
      const at::Tensor down = (torch::randn({32, 16, 4, 4}) * 0.1).requires_grad_();
      const at::Tensor down_bias = torch::randn({32}, torch::requires_grad());
      const at::Tensor up = (torch::randn({up_channels, 32, 4, 4}) * 0.1).requires_grad_();
      const at::Tensor up_bias = torch::randn({up_channels}, torch::requires_grad());
      const at::Tensor upstream = torch::randn({2, up_channels, 16, 16});
      std::vector<Step> steps;
      for (int step = 0; step < 2; ++step) {
        const at::Tensor output =
            upsample_nearest_conv4x4(conv2d(x, down, down_bias, 2, 1), up, up_bias);
        steps.push_back(
            {output.detach(), torch::autograd::grad({output}, {x, down, up}, {upstream})});
        torch::NoGradGuard no_grad;
        down.sub_(steps.back().gradients[1] * 0.5);
        up.sub_(steps.back().gradients[2] * 0.5);
      }
      return steps;
    };
    const std::vector<Step> kept = two_steps(true, kernels::Precision::kBFloat16);
    const std::vector<Step> converted = two_steps(false, kernels::Precision::kBFloat16);
    const std::vector<Step> float32 = two_steps(true, kernels::Precision::kFloat32);
    const char* names[] = {"input", "down weight", "upsampling weight"};
    for (size_t step = 0; step < 2; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      ASSERT_EQ(kept[step].output.sizes(), at::IntArrayRef({2, up_channels, 16, 16}));
      EXPECT_TRUE(torch::equal(kept[step].output, converted[step].output));
      EXPECT_LT(relative_difference(kept[step].output, float32[step].output), 2e-2);
      EXPECT_GT(relative_difference(kept[step].output, float32[step].output), 1e-5)
          << "bf16 did not run";
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(torch::equal(kept[step].gradients[i], converted[step].gradients[i]))
            << names[i];
        EXPECT_LT(relative_difference(kept[step].gradients[i], float32[step].gradients[i]), 2e-2)
            << names[i];
      }
    }
    // The update changed what the second step computed.
    EXPECT_GT(relative_difference(kept[1].output, kept[0].output), 1e-2);
  }

  // Weights that die and new ones in their place (their memory reused): each computes with its
  // own values.
  const PrecisionSwitch bf16(kernels::Precision::kBFloat16);
  const at::Tensor x = torch::randn({1, 16, 8, 8}, torch::requires_grad());
  const at::Tensor b = torch::zeros({8});
  for (int model = 0; model < 3; ++model) {
    const at::Tensor w = (torch::randn({8, 16, 4, 4}) * 0.1).requires_grad_();
    const at::Tensor with_copies = conv2d(x, w, b, 2, 1).detach();
    const WeightCopiesSwitch converted_each_pass(false);
    EXPECT_TRUE(torch::equal(with_copies, conv2d(x, w, b, 2, 1).detach())) << "model " << model;
  }
}

// FusedAdam writes the kept bf16 copies of 4x4 weights (and of their 5x5 upsampling kernels) as it
// updates them, block of rows by block of rows (bf16_copy_writer): the next steps must compute
// exactly what copies converted afresh by every pass compute, for a convolution's weight
// ([C_out, C_in]), an upsampling one's and a transposed convolution's ([C_in, C_out]).
TEST(GemmConv, Bf16CopiesWrittenByTheOptimizerEqualFreshConversions) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  const PrecisionSwitch bf16(kernels::Precision::kBFloat16);
  const auto train = [](bool copies) {
    const WeightCopiesSwitch copies_switch(copies);
    torch::manual_seed(21);
    const at::Tensor x = torch::randn({1, 16, 16, 16});
    std::vector<at::Tensor> weights = {(torch::randn({48, 16, 4, 4}) * 0.1),
                                       (torch::randn({32, 48, 4, 4}) * 0.1),
                                       (torch::randn({32, 16, 4, 4}) * 0.1)};
    std::vector<at::Tensor> biases = {torch::zeros({48}), torch::zeros({32}), torch::zeros({16})};
    std::vector<at::Tensor> parameters;
    for (auto& tensor : weights) parameters.push_back(tensor.requires_grad_());
    for (auto& tensor : biases) parameters.push_back(tensor.requires_grad_());
    FusedAdam adam(parameters, torch::optim::AdamOptions(1e-2).betas(std::make_tuple(0.5, 0.999)));
    std::vector<at::Tensor> outputs;
    int64_t written_row_blocks = 0;
    for (int step = 0; step < 3; ++step) {
      adam.zero_grad();
      const at::Tensor down = conv2d(x, weights[0], biases[0], 2, 1);               // 16x16 -> 8x8
      const at::Tensor up = upsample_nearest_conv4x4(down, weights[1], biases[1]);  // -> 16x16
      const at::Tensor output = conv_transpose2d(up, weights[2], biases[2], 2, 1, 0);
      outputs.push_back(output.detach().clone());
      output.square().mean().backward();
      for (const auto& weight : weights) written_row_blocks += bf16_copy_writer(weight).row_blocks;
      adam.step();
    }
    return std::make_pair(outputs, written_row_blocks);
  };
  const auto [written, written_row_blocks] = train(true);
  const auto [converted, no_copies] = train(false);
  // Every step: 48 / 16 + 32 / 16 + 32 / 16 row blocks.
  EXPECT_EQ(written_row_blocks, 3 * 7) << "the optimizer wrote no copies";
  EXPECT_EQ(no_copies, 0);
  for (size_t step = 0; step < written.size(); ++step) {
    EXPECT_TRUE(torch::equal(written[step], converted[step])) << "step " << step;
  }
  EXPECT_GT(relative_difference(written[2], written[0]), 1e-3) << "the updates changed nothing";
}

// Whole networks: the optimised layers change no output or gradient beyond float rounding, with
// the official ResNet's and U-Net's transposed convs and the book U-Net's upsample + conv steps.
// output_and_parameter_gradients() of two paths: the outputs within 1e-5, the gradients within
// 1e-4 (relative to each tensor's largest value).
void expect_close_outputs_and_gradients(const std::vector<at::Tensor>& actual,
                                        const std::vector<at::Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_LT(relative_difference(actual[0], expected[0]), 1e-5) << "output";
  double worst_gradient = 0;
  for (size_t i = 1; i < actual.size(); ++i) {
    worst_gradient = std::max(worst_gradient, relative_difference(actual[i], expected[i]));
  }
  EXPECT_LT(worst_gradient, 1e-4);
}

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
      return testing::output_and_parameter_gradients(
          *network, [&](const at::Tensor& input) { return generator->forward(input); }, x.clone());
    };
    const auto expected = run(false);
    const auto actual = run(true);
    expect_close_outputs_and_gradients(actual, expected);
  }
}

// Batch norm and no norm leave the convolutions before the norms without a bias: the kernels take
// them with a zero one and must still compute what LibTorch's own operators compute.
TEST(GemmConv, NetworksWithoutConvBiasesComputeWhatLibTorchComputes) {
  for (const std::string norm : {"batch", "none"}) {
    for (const std::string architecture : {"resnet_6blocks", "unet_128"}) {
      SCOPED_TRACE(architecture + " " + norm);
      torch::manual_seed(15);
      auto generator =
          make_generator(GeneratorOptions().architecture(architecture).ngf(8).norm(norm));
      std::shared_ptr<torch::nn::Module> network = generator;
      const int64_t size = architecture == "unet_128" ? 128 : 32;
      const at::Tensor x = torch::rand({1, 3, size, size}) * 2 - 1;
      const auto run = [&](const kernels::Policy& policy) {
        const kernels::PolicyGuard guard(policy);
        return testing::output_and_parameter_gradients(
            *network, [&](const at::Tensor& input) { return generator->forward(input); },
            x.clone());
      };
      const auto expected = run(kernels::Policy::plain());
      const auto actual = run(kernels::policy());
      expect_close_outputs_and_gradients(actual, expected);
    }
  }
}

// Whole networks in bf16 training: every strided and upsampling layer reads bf16 operands; the
// output stays within bf16 rounding of float32's and the first layer's gradient keeps its
// direction.
TEST(GemmConv, NetworksTrainInBf16CloseToFloat32) {
  if (!bf16_conv_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  for (const std::string architecture : {"unet_128", "unet"}) {
    SCOPED_TRACE(architecture);
    torch::manual_seed(17);
    auto generator = make_generator(GeneratorOptions().architecture(architecture).ngf(8));
    std::shared_ptr<torch::nn::Module> network = generator;
    network->train();
    const int64_t size = architecture == "unet_128" ? 128 : 64;
    const at::Tensor x = torch::rand({1, 3, size, size}) * 2 - 1;
    const auto run = [&](kernels::Precision precision) {
      const PrecisionSwitch use(precision);
      network->zero_grad();
      const at::Tensor y = generator->forward(x.clone());
      y.square().mean().backward();
      return std::make_pair(y.detach(), generator->parameters()[0].grad().clone());
    };
    const auto [y32, grad32] = run(kernels::Precision::kFloat32);
    const auto [y16, grad16] = run(kernels::Precision::kBFloat16);
    EXPECT_GT(relative_difference(y16, y32), 1e-4) << "the bf16 kernels did not run";
    EXPECT_LT(relative_difference(y16, y32), 5e-2) << "output";
    // The first layer's gradient has come back through every layer: what training needs is its
    // direction.
    const double cosine =
        (grad16 * grad32).sum().item<double>() / (grad16.norm() * grad32.norm()).item<double>();
    // (Measured: 0.985 for unet_128, 0.993 for the book U-Net; unrelated gradients give ~0.)
    EXPECT_GT(cosine, 0.97) << "first layer's weight gradient";
  }
}

}  // namespace
}  // namespace cyclegan
