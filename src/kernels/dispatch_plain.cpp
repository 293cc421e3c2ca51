// The seam's operations in a build without the kernels (CYCLEGAN_FAST_KERNELS=OFF): LibTorch's
// operators alone, whatever the policy says.

#include "kernels.h"
#include "reference.h"

namespace cyclegan::kernels {

bool built_with_fast_kernels() { return false; }

Policy available() { return Policy::plain(); }

bool bf16_available() { return false; }

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding) {
  return reference::conv2d(input, weight, bias, stride, padding);
}

at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding) {
  return reference::conv_transpose2d(input, weight, bias, stride, padding, output_padding);
}

at::Tensor upsample_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias) {
  return reference::upsample_conv4x4(input, weight, bias);
}

at::Tensor instance_norm(const at::Tensor& x, double eps) {
  return reference::instance_norm(x, eps);
}

at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope) {
  return reference::activate(reference::instance_norm(x, eps), negative_slope);
}

at::Tensor reflection_pad(const at::Tensor& x, int64_t padding) {
  return reference::reflection_pad(x, padding);
}

bool adam_update(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                 const AdamCoefficients&) {
  return false;
}

}  // namespace cyclegan::kernels
