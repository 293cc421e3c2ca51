#pragma once

#include <ATen/core/Tensor.h>

namespace cyclegan {

/// Whether this build can run oneDNN's Winograd F(4x4, 3x3) convolutions (built against
/// libdnnl-dev) and this CPU has the kernels for them (AVX-512).
bool winograd_available();

/// Process-wide switch (default on where available). Off: every convolution goes through
/// LibTorch as usual. Tests turn it off to compare the two paths.
void set_winograd_enabled(bool enabled);
bool winograd_enabled();

/// Process-wide switch, default off: also take the Winograd path without gradients, for inputs of
/// at least 24x24 pixels (what `cyclegan translate` does unless --exact; on smaller ones the
/// direct convolution is faster). Faster, but a ResNet generator's output then differs from
/// LibTorch's and PyTorch's direct convolution by about 2e-5 instead of matching to 1e-5.
void set_winograd_for_inference(bool enabled);
bool winograd_for_inference();

/// Whether winograd_conv3x3() would take the Winograd path for this input and weight: CPU
/// float32 tensors, 3x3 kernel, stride 1, no padding, no dilation or groups.
bool winograd_applies(const at::Tensor& input, const at::Tensor& weight);

/// conv2d(input, weight, bias) with stride 1 and no padding. When gradients are wanted (training),
/// forward and both gradients run through oneDNN's Winograd kernels: about half the time of
/// LibTorch's direct convolution for the ResNet blocks, at a rounding of about 1e-6 relative per
/// layer. Without gradients (translation, samples) it is LibTorch's direct convolution, whose
/// results match PyTorch's to the 1e-5 the parity tests promise (Winograd's rounding reaches
/// about 1.5e-5 on a ResNet generator's output), unless set_winograd_for_inference(true). Also
/// direct where winograd_applies() is false.
/// input [N, C_in, H, W], weight [C_out, C_in, 3, 3], bias [C_out] -> [N, C_out, H-2, W-2].
at::Tensor winograd_conv3x3(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias);

}  // namespace cyclegan
