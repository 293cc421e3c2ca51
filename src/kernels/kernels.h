#pragma once

// The one way into the hand-written kernels (src/kernels/). Each operation computes the LibTorch
// operator named beside it; where the thread's policy allows a fast path and one applies to the
// tensors, a kernel computes it instead, else the operator itself does. A build without the
// kernels (CMake CYCLEGAN_FAST_KERNELS=OFF) has the same functions on the operators alone.
// Why each kernel exists and what it gains: bench/README.md.

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace cyclegan::kernels {

enum class Precision { kFloat32, kBFloat16 };

/// Which fast paths computations on a thread may take. A run (the trainer, the translator) holds
/// one in a PolicyGuard; code outside any guard gets Policy{}.
struct Policy {
  /// kBFloat16: training passes (those that record gradients) run their convolutions in bf16
  /// through oneDNN, keeping float32 weights and gradients (train.precision: bf16).
  Precision precision = Precision::kFloat32;
  bool winograd = true;                 ///< 3x3 unpadded convolutions in training (oneDNN Winograd)
  bool winograd_for_inference = false;  ///< and without gradients (differs from at::conv2d ~1e-6)
  bool gemm_conv = true;           ///< transposed and bf16 convolutions through oneDNN's GEMM paths
  bool few_channel_conv = true;    ///< 7x7 convolutions with 3 channels on one side (AVX-512)
  bool norm_kernels = true;        ///< training InstanceNorm with its activation, one pass
  bool no_grad_kernels = true;     ///< InstanceNorm and reflection padding without gradients
  bool fused_adam = true;          ///< Adam's update in one pass over each parameter
  bool bf16_weight_copies = true;  ///< bf16 weights kept in oneDNN's layout, refreshed by Adam

  /// Every fast path off: LibTorch's operators only.
  static Policy plain();
};

/// The policy of the innermost PolicyGuard on this thread, or Policy{}. Read on the thread that
/// calls an operation (autograd runs CPU backward passes on the thread that calls backward()).
const Policy& policy();

/// Sets this thread's policy for its lifetime; restores the previous one on destruction.
class PolicyGuard {
 public:
  explicit PolicyGuard(const Policy& policy);
  ~PolicyGuard();
  PolicyGuard(const PolicyGuard&) = delete;
  PolicyGuard& operator=(const PolicyGuard&) = delete;

 private:
  Policy previous_;
};

/// Whether this library was built with the kernels (CYCLEGAN_FAST_KERNELS).
bool built_with_fast_kernels();

/// The paths this build and CPU have: each flag of Policy{} that can take effect here.
Policy available();

/// Whether this CPU and build run bf16 convolutions (train.precision: bf16).
bool bf16_available();

/// at::conv2d(input, weight, bias, stride, padding), square kernels.
at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding);

/// at::conv_transpose2d(input, weight, bias, stride, padding, output_padding).
at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding);

/// The book U-Net's upsampling: nearest 2x upsampling, zero padding (1, 2, 1, 2) and a 4x4
/// convolution with `weight` [C_out, C, 4, 4].
at::Tensor upsample_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias);

/// InstanceNorm without affine parameters: each sample's channels to mean 0, variance 1.
at::Tensor instance_norm(const at::Tensor& x, double eps);

/// instance_norm(x, eps) followed by an in-place LeakyReLU(negative_slope) (0: ReLU).
at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope);

/// at::reflection_pad2d(x, {padding} * 4).
at::Tensor reflection_pad(const at::Tensor& x, int64_t padding);

/// Adam's update of one parameter, as LibTorch's Adam computes it element by element, with
/// float32 arithmetic; refreshes the parameter's bf16 copies. False (nothing done) where no
/// kernel applies: the caller updates the parameter itself.
struct AdamCoefficients {
  float beta1;
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float sqrt_bias_correction2;
  float eps;
  float negative_step_size;
};
bool adam_update(const at::Tensor& parameter, const at::Tensor& grad, const at::Tensor& exp_avg,
                 const at::Tensor& exp_avg_sq, const AdamCoefficients& coefficients);

namespace detail {

/// `bias`, or zeros of `channels` where a convolution has none (it feeds a batch norm, or there is
/// no norm): a kernel that needs a bias then computes the same output, and the zeros' gradient is
/// not kept. LibTorch's operators keep getting no bias, so they compute what PyTorch does.
at::Tensor bias_or_zeros(const at::Tensor& bias, const at::Tensor& weight, int64_t channels);

}  // namespace detail

}  // namespace cyclegan::kernels
