#pragma once

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Whether this build can run oneDNN's Winograd F(4x4, 3x3) convolutions (built against
/// libdnnl-dev) and this CPU has the kernels for them (AVX-512).
bool winograd_available();

/// Whether the thread's policy allows the Winograd path (kernels::Policy::winograd) and it is
/// available; and whether it also allows it without gradients (winograd_for_inference), for
/// inputs of at least 24x24 pixels. Without gradients the result then differs from LibTorch's
/// direct convolution by about 2e-5 on a ResNet generator's output instead of 1e-5.
bool winograd_enabled();
bool winograd_for_inference();

/// Whether winograd_conv3x3() would take the Winograd path for this input and weight: CPU
/// float32 tensors, 3x3 kernel, stride 1, no padding, no dilation or groups.
bool winograd_applies(const at::Tensor& input, const at::Tensor& weight);

/// conv2d(input, weight, bias) with stride 1 and no padding. When gradients are wanted (training),
/// forward and both gradients run through oneDNN's Winograd kernels, at a rounding of about 1e-6
/// relative per layer. Without gradients it is LibTorch's direct convolution unless
/// winograd_for_inference(); also where winograd_applies() is false.
/// input [N, C_in, H, W], weight [C_out, C_in, 3, 3], bias [C_out] -> [N, C_out, H-2, W-2].
at::Tensor winograd_conv3x3(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias);

}  // namespace cyclegan
