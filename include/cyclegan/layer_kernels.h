#pragma once
// Hand-written CPU kernels for the memory-bound layers around the convolutions: for passes that
// need no gradient (translation, sample images), and InstanceNorm with its activation in
// training. In a ResNet generator's inference at 256x256,
// LibTorch's InstanceNorm (a batch norm over N*C channels) and reflection padding took 66 and
// 32 ms of a 456 ms pass (translate, Winograd path). On a 256x64x64 activation these take 0.9 and
// 0.2 ms against LibTorch's 1.9 and 1.0 (2 threads).

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Whether the kernels below take `x`: a contiguous 4-D float CPU tensor that needs no gradient
/// (grad mode off, or `x` not requiring one). Otherwise callers use LibTorch's operators.
bool layer_kernels_apply(const at::Tensor& x);

/// InstanceNorm without affine parameters: each (sample, channel) plane normalised by its own
/// mean and biased variance, (x - mean) / sqrt(var + eps). Statistics are summed in double, so
/// results match LibTorch's to float rounding. Needs layer_kernels_apply(x).
at::Tensor instance_norm_no_grad(const at::Tensor& x, double eps);

/// Process-wide switch (default on) for the training kernel below, for measuring the difference
/// (`cyclegan_bench train --no-norm-kernels`) and for tests comparing it with LibTorch's.
void set_training_norm_kernels_enabled(bool enabled);
bool training_norm_kernels_enabled();

/// Whether instance_norm_activation takes `x`: the switch is on, and `x` is a 4-D float CPU
/// tensor that records a gradient (training).
bool training_norm_kernels_apply(const at::Tensor& x);

/// Training's InstanceNorm without affine parameters, followed by LeakyReLU(negative_slope) (0:
/// ReLU, 1: no activation), as one autograd node with a hand-written backward pass. LibTorch's
/// batch norm, activation and their gradients took 0.76 ms on a [2, 32, 64, 64] activation (2
/// threads); this passes over each plane twice each way. The result and input gradient match
/// LibTorch's instance_norm then leaky_relu to float rounding. Needs
/// training_norm_kernels_apply(x).
at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope);

/// Reflection padding by `padding` on all four sides (padding < height and width), as
/// torch::nn::ReflectionPad2d. Needs layer_kernels_apply(x).
at::Tensor reflection_pad_no_grad(const at::Tensor& x, int64_t padding);

}  // namespace cyclegan
