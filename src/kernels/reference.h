#pragma once

// Private to src/kernels/: the LibTorch operators that the seam's operations stand for (kernels.h),
// computed by LibTorch alone. The whole of a build without the kernels, and every fast path's
// fallback.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace cyclegan::kernels::reference {

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding);
at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding);
at::Tensor upsample_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias);
at::Tensor instance_norm(const at::Tensor& x, double eps);
/// `normalised` (an instance_norm result, by any path) through LeakyReLU(negative_slope), in place.
at::Tensor activate(at::Tensor normalised, double negative_slope);
at::Tensor reflection_pad(const at::Tensor& x, int64_t padding);

}  // namespace cyclegan::kernels::reference
