#include "cyclegan/layer_kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstring>

namespace cyclegan {

namespace {

// Sixteen independent partial sums, so the compiler vectorises the loops without reassociating
// them; the plane loop is compiled for AVX-512 and AVX2 as well as the x86-64 baseline (SSE2),
// and the loader picks the best this CPU runs.
constexpr int64_t kLanes = 16;

__attribute__((target_clones("avx512f", "avx2", "default"))) void normalise_plane(
    const float* source, float* target, int64_t count, double eps) {
  double sums[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) sums[lane] += source[i + lane];
  }
  double sum = 0;
  for (; i < count; ++i) sum += source[i];
  for (const double lane : sums) sum += lane;
  const double mean = sum / count;

  double squares[kLanes] = {};
  for (i = 0; i + kLanes <= count; i += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      const double deviation = source[i + lane] - mean;
      squares[lane] += deviation * deviation;
    }
  }
  double square_sum = 0;
  for (; i < count; ++i) square_sum += (source[i] - mean) * (source[i] - mean);
  for (const double lane : squares) square_sum += lane;
  const double variance = square_sum / count;

  // LibTorch's form: x * invstd + (-mean * invstd).
  const auto scale = static_cast<float>(1.0 / std::sqrt(variance + eps));
  const auto shift = static_cast<float>(-mean * scale);
  for (i = 0; i < count; ++i) target[i] = source[i] * scale + shift;
}

}  // namespace

bool layer_kernels_apply(const at::Tensor& x) {
  return x.defined() && !(at::GradMode::is_enabled() && x.requires_grad()) && x.device().is_cpu() &&
         x.scalar_type() == at::kFloat && x.layout() == at::kStrided && !x.is_mkldnn() &&
         x.dim() == 4 && x.is_contiguous() && x.numel() > 0;
}

at::Tensor instance_norm_no_grad(const at::Tensor& x, double eps) {
  TORCH_CHECK(layer_kernels_apply(x), "instance_norm_no_grad: unsupported input");
  at::Tensor y = at::empty_like(x);
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t count = x.size(2) * x.size(3);
  const float* input = x.data_ptr<float>();
  float* output = y.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      normalise_plane(input + plane * count, output + plane * count, count, eps);
    }
  });
  return y;
}

at::Tensor reflection_pad_no_grad(const at::Tensor& x, int64_t padding) {
  TORCH_CHECK(layer_kernels_apply(x), "reflection_pad_no_grad: unsupported input");
  const int64_t height = x.size(2);
  const int64_t width = x.size(3);
  TORCH_CHECK(padding >= 0 && padding < height && padding < width,
              "reflection_pad_no_grad: padding ", padding, " needs an input larger than it, got ",
              x.sizes());
  const int64_t out_height = height + 2 * padding;
  const int64_t out_width = width + 2 * padding;
  at::Tensor y = at::empty({x.size(0), x.size(1), out_height, out_width}, x.options());
  const float* input = x.data_ptr<float>();
  float* output = y.data_ptr<float>();
  at::parallel_for(0, x.size(0) * x.size(1), 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      for (int64_t out_y = 0; out_y < out_height; ++out_y) {
        int64_t y_in = out_y - padding;
        if (y_in < 0) y_in = -y_in;
        if (y_in >= height) y_in = 2 * (height - 1) - y_in;
        const float* row = input + (plane * height + y_in) * width;
        float* target = output + (plane * out_height + out_y) * out_width;
        std::memcpy(target + padding, row, width * sizeof(float));
        for (int64_t j = 0; j < padding; ++j) {
          target[padding - 1 - j] = row[j + 1];
          target[padding + width + j] = row[width - 2 - j];
        }
      }
    }
  });
  return y;
}

}  // namespace cyclegan
