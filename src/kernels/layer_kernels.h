#pragma once
// Hand-written CPU kernels for the memory-bound layers around the convolutions: InstanceNorm and
// reflection padding for passes that need no gradient (translation, sample images), and
// InstanceNorm with its activation in training. Figures: bench/README.md.

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Whether the no-grad kernels below take `x`: the policy allows them
/// (kernels::Policy::no_grad_kernels) and `x` is a contiguous 4-D float CPU tensor that needs no
/// gradient (grad mode off, or `x` not requiring one). Otherwise callers use LibTorch's operators.
bool layer_kernels_apply(const at::Tensor& x);

/// InstanceNorm without affine parameters: each (sample, channel) plane normalised by its own
/// mean and biased variance, (x - mean) / sqrt(var + eps). Statistics are summed in double, so
/// results match LibTorch's to float rounding. Needs layer_kernels_apply(x).
at::Tensor instance_norm_no_grad(const at::Tensor& x, double eps);

/// Whether instance_norm_activation takes `x`: the policy allows it (norm_kernels) and `x` is a
/// 4-D float CPU tensor that records a gradient
/// (training).
bool training_norm_kernels_apply(const at::Tensor& x);

/// Training's InstanceNorm without affine parameters, followed by LeakyReLU(negative_slope) (0:
/// ReLU, 1: no activation), as one autograd node with a hand-written backward pass over each plane.
/// The result and input gradient match LibTorch's instance_norm then leaky_relu to float rounding.
/// Needs training_norm_kernels_apply(x).
at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope);

/// Reflection padding by `padding` on all four sides (padding < height and width), as
/// torch::nn::ReflectionPad2d. Needs layer_kernels_apply(x).
at::Tensor reflection_pad_no_grad(const at::Tensor& x, int64_t padding);

}  // namespace cyclegan
