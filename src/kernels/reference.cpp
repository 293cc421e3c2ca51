#include "reference.h"

#include <torch/torch.h>

namespace cyclegan::kernels::reference {

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding) {
  return at::conv2d(input, weight, bias, stride, padding);
}

at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding) {
  return at::conv_transpose2d(input, weight, bias, stride, padding, output_padding);
}

at::Tensor upsample_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias) {
  TORCH_CHECK(input.dim() == 4 && weight.dim() == 4 && weight.size(2) == 4 && weight.size(3) == 4 &&
                  weight.size(1) == input.size(1),
              "upsample_conv4x4: expected input [N, C, H, W] and weight [C_out, C, 4, 4], got ",
              input.sizes(), " and ", weight.sizes());
  const at::Tensor upsampled =
      at::upsample_nearest2d(input, {2 * input.size(2), 2 * input.size(3)});
  return at::conv2d(at::constant_pad_nd(upsampled, {1, 2, 1, 2}), weight, bias);
}

at::Tensor instance_norm(const at::Tensor& x, double eps) {
  // LibTorch's instance_norm is this batch norm over [1, N C, H, W], returned as a view; an
  // in-place activation on that view would make autograd copy the gradient and the view per
  // layer (CopySlices). The batch norm's backward reads its input, not its output, so the
  // output is free to be overwritten, and an unsafe view is not tracked as a view.
  const at::Tensor channels = x.reshape({1, x.size(0) * x.size(1), x.size(2), x.size(3)});
  const at::Tensor normalised = at::batch_norm(channels, {}, {}, {}, {}, /*training=*/true,
                                               /*momentum=*/0.1, eps, /*cudnn_enabled=*/true);
  return at::_unsafe_view(normalised, x.sizes());
}

at::Tensor activate(at::Tensor normalised, double negative_slope) {
  if (negative_slope == 0.0) return at::relu_(normalised);
  return at::leaky_relu_(normalised, negative_slope);
}

at::Tensor reflection_pad(const at::Tensor& x, int64_t padding) {
  return at::reflection_pad2d(x, {padding, padding, padding, padding});
}

}  // namespace cyclegan::kernels::reference
