#pragma once
// Stride-1, unpadded convolutions with at most 3 channels on one side: the ResNet generator's
// 7x7 layers at the image's edges (3 -> ngf and ngf -> 3). oneDNN's kernels vectorise over
// output channels, so wherever 3 channels are the output -- the last layer's forward pass and
// the first layer's input gradient -- they ran at 80-95 GFLOP/s on the AVX-512 development
// machine: 96 ms of resnet_9blocks' 1.0 s training step at 128 px for 2 % of its arithmetic.
// The kernel here vectorises over output pixels instead (AVX-512, 64 pixels and 3 output
// channels in registers).

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Process-wide switch (default on), for measuring the difference (`cyclegan_bench train
/// --no-few-channel-conv`).
void set_few_channel_conv_enabled(bool enabled);
bool few_channel_conv_enabled();

/// Whether this build and CPU have the kernel (x86-64 with AVX-512).
bool few_channel_conv_available();

/// conv2d(input, weight, bias), stride 1, no padding, as at::conv2d (gradients included), for
/// input [N, C_in, H, W] and weight [C_out, C_in, K, K]. When training (a gradient is needed),
/// the switch is on, this CPU has AVX-512 and the tensors are float32 CPU tensors:
/// - C_out <= 3: the forward pass and (7x7) the weight gradient run through our kernels, and the
///   input gradient as a convolution with C_out input channels, which oneDNN runs fast;
/// - C_in <= 3: the input gradient runs through the forward kernel.
/// Results match at::conv2d's to float rounding (sums in another order). Everything else, and
/// every pass without gradients (translation), is LibTorch's own convolution.
at::Tensor few_channel_conv2d(const at::Tensor& input, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace cyclegan
