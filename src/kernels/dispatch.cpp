// The seam's operations in a build with the kernels: each takes a kernel where the thread's policy
// allows it and the kernel applies, else its LibTorch operator (reference.cpp).

#include <torch/torch.h>

#include "few_channel_conv.h"
#include "gemm_conv.h"
#include "kernels.h"
#include "layer_kernels.h"
#include "reference.h"
#include "winograd.h"

namespace cyclegan::kernels {

bool built_with_fast_kernels() { return true; }

Policy available() {
  Policy paths;
  paths.precision = bf16_conv_available() ? Precision::kBFloat16 : Precision::kFloat32;
  paths.winograd = winograd_available();
  paths.winograd_for_inference = winograd_available();
  paths.gemm_conv = gemm_conv_available();
  paths.few_channel_conv = few_channel_conv_available();
  paths.bf16_weight_copies = bf16_conv_available();
  return paths;
}

bool bf16_available() { return bf16_conv_available(); }

at::Tensor detail::bias_or_zeros(const at::Tensor& bias, const at::Tensor& weight,
                                 int64_t channels) {
  return bias.defined() ? bias : at::zeros({channels}, weight.options());
}

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding) {
  const bool unpadded_stride_one = stride == 1 && padding == 0 && weight.dim() == 4;
  // The ResNet blocks' 3x3 convolutions, in float32 whatever the precision.
  if (unpadded_stride_one && weight.size(2) == 3 && weight.size(3) == 3) {
    return winograd_conv3x3(input, weight, bias);
  }
  // The ResNet generators' first and last 7x7 layers (3 channels in or out).
  if (unpadded_stride_one && weight.size(2) == 7 && weight.size(3) == 7) {
    return few_channel_conv2d(input, weight, bias);
  }
  if (policy().precision == Precision::kBFloat16 && at::GradMode::is_enabled()) {
    return cyclegan::conv2d(input, weight, bias, stride, padding);
  }
  return reference::conv2d(input, weight, bias, stride, padding);
}

at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding) {
  return cyclegan::conv_transpose2d(input, weight, bias, stride, padding, output_padding);
}

at::Tensor upsample_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias) {
  return upsample_nearest_conv4x4(input, weight, bias);
}

at::Tensor instance_norm(const at::Tensor& x, double eps) {
  if (layer_kernels_apply(x)) return instance_norm_no_grad(x, eps);
  if (training_norm_kernels_apply(x)) {
    return cyclegan::instance_norm_activation(x, eps, /*negative_slope=*/1.0);
  }
  return reference::instance_norm(x, eps);
}

at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope) {
  if (training_norm_kernels_apply(x)) {
    return cyclegan::instance_norm_activation(x, eps, negative_slope);
  }
  return reference::activate(instance_norm(x, eps), negative_slope);
}

at::Tensor reflection_pad(const at::Tensor& x, int64_t padding) {
  if (layer_kernels_apply(x) && padding < x.size(2) && padding < x.size(3)) {
    return reflection_pad_no_grad(x, padding);
  }
  return reference::reflection_pad(x, padding);
}

}  // namespace cyclegan::kernels
