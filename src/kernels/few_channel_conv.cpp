#include "few_channel_conv.h"

#include "cpu_features.h"
#include "kernels.h"

#include <torch/torch.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>

namespace cyclegan {

namespace {

constexpr int64_t kMaxOutputs = 3;
constexpr int64_t kVectors = 4;  // 16-float vectors per block of output pixels
constexpr int64_t kBlock = 16 * kVectors;

#if defined(__x86_64__)

struct Geometry {
  int64_t channels, in_height, in_width, kernel, outputs, out_height, out_width;
};

// Output rows [begin, end) of all images (row r is image r / out_height, row r % out_height):
// out[o][y][x] = bias[o] + sum over c, i, j of taps[c][i][j][o] * in[c][y + i][x + j]. Each block
// of 64 output pixels keeps its 3 x 4 accumulators in registers through all channels and taps;
// each input vector loaded feeds 3 multiply-adds.
__attribute__((target("avx512f"))) void few_output_rows(const Geometry& g, const float* input,
                                                        const float* taps, const float* bias,
                                                        float* output, int64_t begin, int64_t end) {
  const int64_t in_plane = g.in_height * g.in_width;
  const int64_t out_plane = g.out_height * g.out_width;
  // Column blocks outermost: consecutive rows of one block share 6 of their 7 input rows, and a
  // block's 64 channels x 7 rows stay in L2 (whole rows at 256 px did not: 2x slower).
  for (int64_t x0 = 0; x0 < g.out_width; x0 += kBlock) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.out_height;
      const int64_t y = r % g.out_height;
      const float* image = input + n * g.channels * in_plane;
      float* target = output + n * g.outputs * out_plane + y * g.out_width;
      auto mask = [&](int64_t v) {
        const int64_t left = g.out_width - x0 - 16 * v;
        return left >= 16  ? __mmask16{0xFFFF}
               : left <= 0 ? __mmask16{0}
                           : static_cast<__mmask16>((1u << left) - 1);
      };
      const __mmask16 m0 = mask(0), m1 = mask(1), m2 = mask(2), m3 = mask(3);
      // Named accumulators (an array of them stayed in memory): s<output><vector>.
      __m512 s00 = _mm512_set1_ps(bias[0]), s01 = s00, s02 = s00, s03 = s00;
      __m512 s10 = _mm512_set1_ps(bias[1]), s11 = s10, s12 = s10, s13 = s10;
      __m512 s20 = _mm512_set1_ps(bias[2]), s21 = s20, s22 = s20, s23 = s20;
      for (int64_t c = 0; c < g.channels; ++c) {
        for (int64_t i = 0; i < g.kernel; ++i) {
          const float* row = image + c * in_plane + (y + i) * g.in_width + x0;
          const float* tap = taps + (c * g.kernel + i) * g.kernel * kMaxOutputs;
          for (int64_t j = 0; j < g.kernel; ++j, tap += kMaxOutputs) {
            const __m512 w0 = _mm512_set1_ps(tap[0]);
            const __m512 w1 = _mm512_set1_ps(tap[1]);
            const __m512 w2 = _mm512_set1_ps(tap[2]);
            const __m512 p0 = _mm512_maskz_loadu_ps(m0, row + j);
            const __m512 p1 = _mm512_maskz_loadu_ps(m1, row + j + 16);
            const __m512 p2 = _mm512_maskz_loadu_ps(m2, row + j + 32);
            const __m512 p3 = _mm512_maskz_loadu_ps(m3, row + j + 48);
            s00 = _mm512_fmadd_ps(w0, p0, s00);
            s01 = _mm512_fmadd_ps(w0, p1, s01);
            s02 = _mm512_fmadd_ps(w0, p2, s02);
            s03 = _mm512_fmadd_ps(w0, p3, s03);
            s10 = _mm512_fmadd_ps(w1, p0, s10);
            s11 = _mm512_fmadd_ps(w1, p1, s11);
            s12 = _mm512_fmadd_ps(w1, p2, s12);
            s13 = _mm512_fmadd_ps(w1, p3, s13);
            s20 = _mm512_fmadd_ps(w2, p0, s20);
            s21 = _mm512_fmadd_ps(w2, p1, s21);
            s22 = _mm512_fmadd_ps(w2, p2, s22);
            s23 = _mm512_fmadd_ps(w2, p3, s23);
          }
        }
      }
      const __m512 sums[kMaxOutputs][kVectors] = {
          {s00, s01, s02, s03}, {s10, s11, s12, s13}, {s20, s21, s22, s23}};
      const __mmask16 masks[kVectors] = {m0, m1, m2, m3};
      for (int64_t o = 0; o < g.outputs; ++o) {
        for (int64_t v = 0; v < kVectors; ++v) {
          _mm512_mask_storeu_ps(target + o * out_plane + x0 + 16 * v, masks[v], sums[o][v]);
        }
      }
    }
  }
}

// Weight gradient for outputs <= 3 and a 7x7 kernel, input channels [begin, end):
// grad_weight[o][c][i][j] = sum over n, y, x of grad_out[n][o][y][x] * in[n][c][y + i][x + j].
// Rows are taken in blocks of kRowBlock, whose output gradient (3 x 32 rows) stays in L1 while
// every channel and kernel row of the range passes over it; for one (c, i) the 3 x 7 sums over
// (o, j) stay in registers, and each block's sums are added to grad_weight in a fixed order. One
// thread per range of input channels, so the result does not depend on the thread count.
__attribute__((target("avx512f"))) void few_output_weight_gradient(
    const Geometry& g, int64_t images, const float* input, const float* grad_output,
    float* grad_weight /* [3][C][7][7], zeroed */, int64_t begin, int64_t end) {
  constexpr int64_t kTaps = 7;
  constexpr int64_t kRowBlock = 32;
  const int64_t in_plane = g.in_height * g.in_width;
  const int64_t out_plane = g.out_height * g.out_width;
  for (int64_t n = 0; n < images; ++n) {
    const float* gradient = grad_output + n * g.outputs * out_plane;
    for (int64_t y0 = 0; y0 < g.out_height; y0 += kRowBlock) {
      const int64_t y1 = std::min(g.out_height, y0 + kRowBlock);
      for (int64_t c = begin; c < end; ++c) {
        const float* image = input + (n * g.channels + c) * in_plane;
        for (int64_t i = 0; i < kTaps; ++i) {
          __m512 sums[kMaxOutputs][kTaps];
          for (auto& output_sums : sums) {
            for (auto& sum : output_sums) sum = _mm512_setzero_ps();
          }
          for (int64_t y = y0; y < y1; ++y) {
            const float* row = image + (y + i) * g.in_width;
            const float* g0 = gradient + y * g.out_width;
            for (int64_t x = 0; x < g.out_width; x += 16) {
              const int64_t left = g.out_width - x;
              const __mmask16 mask =
                  left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << left) - 1);
              const __m512 d0 = _mm512_maskz_loadu_ps(mask, g0 + x);
              const __m512 d1 = g.outputs > 1 ? _mm512_maskz_loadu_ps(mask, g0 + out_plane + x)
                                              : _mm512_setzero_ps();
              const __m512 d2 = g.outputs > 2 ? _mm512_maskz_loadu_ps(mask, g0 + 2 * out_plane + x)
                                              : _mm512_setzero_ps();
              for (int64_t j = 0; j < kTaps; ++j) {
                const __m512 pixels = _mm512_maskz_loadu_ps(mask, row + x + j);
                sums[0][j] = _mm512_fmadd_ps(d0, pixels, sums[0][j]);
                sums[1][j] = _mm512_fmadd_ps(d1, pixels, sums[1][j]);
                sums[2][j] = _mm512_fmadd_ps(d2, pixels, sums[2][j]);
              }
            }
          }
          for (int64_t o = 0; o < g.outputs; ++o) {
            for (int64_t j = 0; j < kTaps; ++j) {
              alignas(64) float lanes[16];
              _mm512_store_ps(lanes, sums[o][j]);
              float total = 0;
              for (const float lane : lanes) total += lane;
              grad_weight[((o * g.channels + c) * kTaps + i) * kTaps + j] += total;
            }
          }
        }
      }
    }
  }
}

bool plain_float_cpu(const at::Tensor& tensor) {
  return tensor.device().is_cpu() && tensor.scalar_type() == at::kFloat &&
         tensor.layout() == at::kStrided && !tensor.is_mkldnn();
}

// conv2d(input, weight, bias) through few_output_rows, for weight.size(0) <= 3; no gradient.
at::Tensor few_output_conv(const at::Tensor& input_any, const at::Tensor& weight,
                           const at::Tensor& bias) {
  const at::Tensor input = input_any.contiguous();
  const int64_t outputs = weight.size(0);
  const int64_t channels = weight.size(1);
  const int64_t kernel = weight.size(2);
  const Geometry g{channels,
                   input.size(2),
                   input.size(3),
                   kernel,
                   outputs,
                   input.size(2) - kernel + 1,
                   input.size(3) - kernel + 1};
  // taps[c][i][j][o], outputs beyond weight.size(0) zero.
  at::Tensor taps = at::zeros({channels, kernel, kernel, kMaxOutputs}, input.options());
  taps.narrow(3, 0, outputs).copy_(weight.permute({1, 2, 3, 0}));
  std::array<float, kMaxOutputs> bias_values{};
  if (bias.defined()) {
    const at::Tensor values = bias.contiguous();
    for (int64_t o = 0; o < outputs; ++o) bias_values[o] = values.data_ptr<float>()[o];
  }
  at::Tensor output =
      at::empty({input.size(0), outputs, g.out_height, g.out_width}, input.options());
  const float* source = input.data_ptr<float>();
  const float* tap_values = taps.data_ptr<float>();
  float* target = output.data_ptr<float>();
  at::parallel_for(0, input.size(0) * g.out_height, 1, [&](int64_t begin, int64_t end) {
    few_output_rows(g, source, tap_values, bias_values.data(), target, begin, end);
  });
  return output;
}

torch::autograd::variable_list libtorch_gradients(const at::Tensor& grad_output,
                                                  const at::Tensor& input, const at::Tensor& weight,
                                                  bool has_bias, std::array<bool, 3> mask) {
  const std::vector<int64_t> bias_sizes{weight.size(0)};
  const at::OptionalIntArrayRef bias_shape =
      has_bias ? at::OptionalIntArrayRef(at::IntArrayRef(bias_sizes)) : at::OptionalIntArrayRef();
  auto [grad_input, grad_weight, grad_bias] =
      at::convolution_backward(grad_output, input, weight, bias_shape, {1, 1}, {0, 0}, {1, 1},
                               /*transposed=*/false, {0, 0}, /*groups=*/1, mask);
  return {grad_input, grad_weight, grad_bias};
}

// C_out <= 3: the forward pass through few_output_conv; for a 7x7 kernel the weight gradient
// through few_output_weight_gradient and the bias gradient as a sum (oneDNN computes weight and
// bias gradients together, so asking it for either costs the weight gradient's arithmetic); the
// input gradient as the full correlation of the output gradient with the flipped weight, a
// convolution with 3 or fewer input channels, which oneDNN's forward kernels run fast (6 against
// 22 ms for resnet_9blocks' last layer at 128 px, batch 2).
class FewOutputConvolution : public torch::autograd::Function<FewOutputConvolution> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias) {
    context->save_for_backward({input, weight});
    context->saved_data["has_bias"] = bias.defined();
    return few_output_conv(input, weight, bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved = context->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& weight = saved[1];
    const bool has_bias = context->saved_data["has_bias"].toBool();
    const at::Tensor grad_output = gradients[0].contiguous();
    const bool ours = weight.size(2) == 7;
    const bool own_weight_gradient = ours && context->needs_input_grad(1);
    const bool bias_gradient = has_bias && context->needs_input_grad(2);
    torch::autograd::variable_list result(3);
    if (!ours && (context->needs_input_grad(1) || bias_gradient)) {
      result = libtorch_gradients(grad_output, input, weight, has_bias,
                                  {false, context->needs_input_grad(1), bias_gradient});
    }
    if (context->needs_input_grad(0)) {
      result[0] = at::conv2d(grad_output, weight.flip({2, 3}).transpose(0, 1), at::Tensor(), 1,
                             weight.size(2) - 1);
    }
    if (ours && bias_gradient) result[2] = grad_output.sum({0, 2, 3});
    if (own_weight_gradient) {
      const at::Tensor image = input.contiguous();
      const Geometry g{weight.size(1), image.size(2),       image.size(3),      7,
                       weight.size(0), grad_output.size(2), grad_output.size(3)};
      at::Tensor grad_weight = at::zeros(weight.sizes(), weight.options());
      const float* source = image.data_ptr<float>();
      const float* upstream = grad_output.data_ptr<float>();
      float* target = grad_weight.data_ptr<float>();
      at::parallel_for(0, g.channels, 1, [&](int64_t begin, int64_t end) {
        few_output_weight_gradient(g, image.size(0), source, upstream, target, begin, end);
      });
      result[1] = grad_weight;
    }
    return result;
  }
};

// C_in <= 3: the forward pass and the weight gradient LibTorch's; the input gradient, a
// convolution with C_in outputs, through few_output_conv: the full correlation of the output
// gradient (zero-padded by K - 1) with the weight flipped in both axes, C_in and C_out swapped.
class FewInputConvolution : public torch::autograd::Function<FewInputConvolution> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias) {
    context->save_for_backward({input, weight});
    context->saved_data["has_bias"] = bias.defined();
    return at::conv2d(input, weight, bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved = context->get_saved_variables();
    const at::Tensor& weight = saved[1];
    const bool has_bias = context->saved_data["has_bias"].toBool();
    const at::Tensor grad_output = gradients[0].contiguous();
    auto result = libtorch_gradients(
        grad_output, saved[0], weight, has_bias,
        {false, context->needs_input_grad(1), has_bias && context->needs_input_grad(2)});
    if (context->needs_input_grad(0)) {
      const int64_t border = weight.size(2) - 1;
      result[0] =
          few_output_conv(at::constant_pad_nd(grad_output, {border, border, border, border}),
                          weight.flip({2, 3}).transpose(0, 1), at::Tensor());
    }
    return result;
  }
};

#else  // no AVX-512 kernel on this architecture: LibTorch's convolutions throughout

bool plain_float_cpu(const at::Tensor&) { return false; }

#endif

}  // namespace

bool few_channel_conv_available() { return cpu_has_avx512(); }

at::Tensor few_channel_conv2d(const at::Tensor& input, const at::Tensor& weight,
                              const at::Tensor& bias) {
  const bool applies = kernels::policy().few_channel_conv && cpu_has_avx512() && input.dim() == 4 &&
                       weight.dim() == 4 && plain_float_cpu(input) && plain_float_cpu(weight) &&
                       (!bias.defined() || plain_float_cpu(bias)) &&
                       weight.size(2) == weight.size(3) && weight.size(1) == input.size(1) &&
                       input.size(2) >= weight.size(2) && input.size(3) >= weight.size(3);
#if defined(__x86_64__)
  // Without gradients (translation, sample images) LibTorch's convolution, as `translate
  // --exact` promises.
  const bool training =
      at::GradMode::is_enabled() &&
      (input.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (applies && training && weight.size(0) <= kMaxOutputs) {
    return FewOutputConvolution::apply(
        input, weight, kernels::detail::bias_or_zeros(bias, weight, weight.size(0)));
  }
  if (applies && training && weight.size(1) <= kMaxOutputs) {
    return FewInputConvolution::apply(input, weight,
                                      kernels::detail::bias_or_zeros(bias, weight, weight.size(0)));
  }
#else
  (void)applies;
#endif
  return at::conv2d(input, weight, bias);
}

}  // namespace cyclegan
