#include "layer_kernels.h"

#include "kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>

namespace cyclegan {

namespace {

// Sixteen independent partial sums, so the compiler vectorises the loops without reassociating
// them; the plane loop is compiled for AVX-512 and AVX2 as well as the x86-64 baseline (SSE2),
// and the loader picks the best this CPU runs.
constexpr int64_t kLanes = 16;

// A plane's mean and 1 / sqrt(biased variance + eps), both summed in double.
struct PlaneStatistics {
  float mean, inverse_std;
};

__attribute__((target_clones("avx512f", "avx2", "default"))) PlaneStatistics plane_statistics(
    const float* source, int64_t count, double eps) {
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
  return {static_cast<float>(mean), static_cast<float>(1.0 / std::sqrt(square_sum / count + eps))};
}

// target = leaky_relu(normalised source, slope), in LibTorch's form x * invstd - mean * invstd.
__attribute__((target_clones("avx512f", "avx2", "default"))) void normalise_and_activate(
    const float* source, float* target, int64_t count, PlaneStatistics statistics, float slope) {
  const float scale = statistics.inverse_std;
  const float shift = -statistics.mean * statistics.inverse_std;
  for (int64_t i = 0; i < count; ++i) {
    const float z = source[i] * scale + shift;
    target[i] = z > 0 ? z : z * slope;
  }
}

// The input gradient of y = leaky_relu(z, slope), z = (x - mean) * inverse_std over a plane of
// count pixels: with dz = dy * leaky_relu'(z),
//   dx = inverse_std * (dz - mean(dz) - z * mean(dz * z)).
// z is read back from the saved output y of a LeakyReLU (saved_output), or recomputed from the
// saved input x.
__attribute__((target_clones("avx512f", "avx2", "default"))) void norm_activation_backward(
    const float* saved, bool saved_output, const float* grad_output, float* grad_input,
    int64_t count, PlaneStatistics statistics, float slope) {
  const float scale = statistics.inverse_std;
  const float shift = -statistics.mean * statistics.inverse_std;
  const float inverse_slope = 1.0f / slope;  // used only with saved_output (slope not 0)
  if (count == 1) {  // z is 0 whatever x is: no gradient (a LeakyReLU's output only rounds to 0)
    grad_input[0] = 0;
    return;
  }
  const float mean = statistics.mean;
  // z, as LibTorch's backward forms it ((x - mean) * inverse_std: exactly 0 on a 1-pixel plane).
  const auto z_of = [&](int64_t i) {
    if (saved_output) return saved[i] > 0 ? saved[i] : saved[i] * inverse_slope;
    return (saved[i] - mean) * scale;
  };
  // LibTorch's relu and leaky_relu backward: the slope where the output is not positive, the
  // output's sign as the forward pass computed it.
  const auto dz_of = [&](int64_t i) {
    const bool positive = saved_output ? saved[i] > 0 : saved[i] * scale + shift > 0;
    return positive ? grad_output[i] : grad_output[i] * slope;
  };
  double dz_sums[kLanes] = {};
  double dz_z_sums[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      const float z = z_of(i + lane);
      const float dz = dz_of(i + lane);
      dz_sums[lane] += dz;
      dz_z_sums[lane] += static_cast<double>(dz) * z;
    }
  }
  double dz_sum = 0;
  double dz_z_sum = 0;
  for (; i < count; ++i) {
    const float z = z_of(i);
    const float dz = dz_of(i);
    dz_sum += dz;
    dz_z_sum += static_cast<double>(dz) * z;
  }
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    dz_sum += dz_sums[lane];
    dz_z_sum += dz_z_sums[lane];
  }
  const auto mean_dz = static_cast<float>(dz_sum / count);
  const auto mean_dz_z = static_cast<float>(dz_z_sum / count);
  for (i = 0; i < count; ++i) {
    grad_input[i] = scale * (dz_of(i) - mean_dz - z_of(i) * mean_dz_z);
  }
}

// Saves the output where a LeakyReLU follows (the next layer keeps it alive anyway, and the
// norm's input can then be freed), the input otherwise: ReLU's output has lost the negative z
// that the input gradient needs everywhere, and an unactivated norm's output may be rewritten in
// place after it (the official U-Net's LeakyReLU(inplace=True) at the start of the next block),
// which the output's version counter would refuse in the backward pass.
class InstanceNormActivation : public torch::autograd::Function<InstanceNormActivation> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                            double eps, double negative_slope) {
    const at::Tensor x = input.contiguous();
    at::Tensor y = at::empty_like(x);
    const int64_t planes = x.size(0) * x.size(1);
    const int64_t count = x.size(2) * x.size(3);
    at::Tensor statistics = at::empty({planes, 2}, x.options());
    auto* plane_stats = reinterpret_cast<PlaneStatistics*>(statistics.data_ptr<float>());
    const float* source = x.data_ptr<float>();
    float* target = y.data_ptr<float>();
    const auto slope = static_cast<float>(negative_slope);
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        plane_stats[plane] = plane_statistics(source + plane * count, count, eps);
        normalise_and_activate(source + plane * count, target + plane * count, count,
                               plane_stats[plane], slope);
      }
    });
    const bool leaky = negative_slope != 0.0 && negative_slope != 1.0;
    context->saved_data["negative_slope"] = negative_slope;
    context->saved_data["saved_output"] = leaky;
    context->save_for_backward({leaky ? y : x, statistics});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved_tensors = context->get_saved_variables();
    const at::Tensor& saved = saved_tensors[0];
    const auto* plane_stats =
        reinterpret_cast<const PlaneStatistics*>(saved_tensors[1].data_ptr<float>());
    const bool saved_output = context->saved_data["saved_output"].toBool();
    const auto slope = static_cast<float>(context->saved_data["negative_slope"].toDouble());
    const at::Tensor grad_output = gradients[0].contiguous();
    at::Tensor grad_input = at::empty_like(saved);
    const int64_t planes = saved.size(0) * saved.size(1);
    const int64_t count = saved.size(2) * saved.size(3);
    const float* source = saved.data_ptr<float>();
    const float* upstream = grad_output.data_ptr<float>();
    float* target = grad_input.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        norm_activation_backward(source + plane * count, saved_output, upstream + plane * count,
                                 target + plane * count, count, plane_stats[plane], slope);
      }
    });
    return {grad_input, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool training_norm_kernels_apply(const at::Tensor& x) {
  return kernels::policy().norm_kernels && x.defined() && x.device().is_cpu() &&
         x.scalar_type() == at::kFloat && x.layout() == at::kStrided && !x.is_mkldnn() &&
         x.dim() == 4 && x.numel() > 0 && at::GradMode::is_enabled() && x.requires_grad();
}

at::Tensor instance_norm_activation(const at::Tensor& x, double eps, double negative_slope) {
  TORCH_CHECK(training_norm_kernels_apply(x), "instance_norm_activation: unsupported input");
  return InstanceNormActivation::apply(x, eps, negative_slope);
}

bool layer_kernels_apply(const at::Tensor& x) {
  return kernels::policy().no_grad_kernels && x.defined() &&
         !(at::GradMode::is_enabled() && x.requires_grad()) && x.device().is_cpu() &&
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
      const float* source = input + plane * count;
      normalise_and_activate(source, output + plane * count, count,
                             plane_statistics(source, count, eps), /*slope=*/1.0f);
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
