#pragma once
// Stride-1, unpadded convolutions with at most 3 channels on one side: the ResNet generator's
// 7x7 layers at the image's edges. oneDNN vectorises over output channels, slow where 3 are the
// output; this kernel vectorises over output pixels instead (AVX-512). Figures: bench/README.md.

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Whether this build and CPU have the kernel (x86-64 with AVX-512).
bool few_channel_conv_available();

/// conv2d(input, weight, bias), stride 1, no padding, as at::conv2d (gradients included), for
/// input [N, C_in, H, W] and weight [C_out, C_in, K, K]. When training (a gradient is needed),
/// the policy allows it (kernels::Policy::few_channel_conv), this CPU has AVX-512 and the tensors
/// (bias included: a convolution without one is LibTorch's) are float32 CPU tensors:
/// - C_out <= 3: the forward pass and (7x7) the weight gradient run through our kernels, and the
///   input gradient as a convolution with C_out input channels, which oneDNN runs fast;
/// - C_in <= 3: the input gradient runs through the forward kernel.
/// Results match at::conv2d's to float rounding (sums in another order). Everything else, and
/// every pass without gradients (translation), is LibTorch's own convolution.
at::Tensor few_channel_conv2d(const at::Tensor& input, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace cyclegan
