// The fused Adam update (kernels.h). This file is compiled with -fno-math-errno so that the square
// root vectorises.

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <cmath>

#include "gemm_conv.h"
#include "kernels.h"

namespace cyclegan::kernels {

namespace {

// LibTorch's Adam, element by element:
//   exp_avg.mul_(beta1).add_(grad, 1 - beta1)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
//   denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
//   param.addcdiv_(exp_avg, denom, -lr / bias_correction1)
void update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t size,
            const AdamCoefficients& c) {
  constexpr int64_t kGrain = 1 << 15;  // elements per task: a few hundred KiB of traffic
  at::parallel_for(0, size, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad[i];
      const float m = exp_avg[i] * c.beta1 + c.one_minus_beta1 * g;
      const float v = exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * g * g;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      const float denom = std::sqrt(v) / c.sqrt_bias_correction2 + c.eps;
      param[i] = param[i] + c.negative_step_size * m / denom;
    }
  });
}

bool fusable(const at::Tensor& tensor) {
  return tensor.device().is_cpu() && tensor.scalar_type() == at::kFloat &&
         tensor.layout() == at::kStrided && tensor.is_contiguous() && !tensor.is_mkldnn();
}

}  // namespace

bool adam_update(const at::Tensor& parameter, const at::Tensor& grad, const at::Tensor& exp_avg,
                 const at::Tensor& exp_avg_sq, const AdamCoefficients& coefficients) {
  if (!(fusable(parameter) && fusable(grad) && fusable(exp_avg) && fusable(exp_avg_sq))) {
    return false;
  }
  float* values = parameter.data_ptr<float>();
  const float* gradients = grad.data_ptr<float>();
  float* averages = exp_avg.data_ptr<float>();
  float* squares = exp_avg_sq.data_ptr<float>();
  const Bf16CopyWriter copies = bf16_copy_writer(parameter);
  if (copies.row_blocks > 0) {
    // Each block of rows, then its bf16 copies from the values still in cache.
    const int64_t block = parameter.numel() / copies.row_blocks;
    at::parallel_for(0, copies.row_blocks, 1, [&](int64_t first, int64_t end) {
      const int64_t offset = first * block;
      update(values + offset, gradients + offset, averages + offset, squares + offset,
             (end - first) * block, coefficients);
      copies.write_rows(first, end);
    });
  } else {
    update(values, gradients, averages, squares, parameter.numel(), coefficients);
  }
  // Written through its pointer: count the change, as an in-place operator would.
  parameter.unsafeGetTensorImpl()->bump_version();
  if (copies.row_blocks > 0) copies.mark_current();
  return true;
}

}  // namespace cyclegan::kernels
