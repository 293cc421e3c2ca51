#include "winograd.h"

#include "kernels.h"

#include <torch/torch.h>

#include <memory>
#include <tuple>

#include "onednn.h"
#include "recently_used.h"

namespace cyclegan {

namespace {

#ifdef CYCLEGAN_HAVE_DNNL

using onednn::any_layout;
using onednn::cpu_engine;
using onednn::in_layout;
using onednn::into_plain;
using onednn::Layout;
using onednn::memory;
using onednn::plain;

// One convolution shape's oneDNN primitives, built once: building them JIT-compiles kernels.
struct WinogradPlan {
  dnnl::convolution_forward::primitive_desc forward_desc;
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data::primitive_desc data_desc;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights::primitive_desc weights_desc;
  dnnl::convolution_backward_weights backward_weights;
};

// batch, input channels, output channels, height, width
using WinogradShape = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;

memory::dims input_dims(const WinogradShape& s) {
  return {std::get<0>(s), std::get<1>(s), std::get<3>(s), std::get<4>(s)};
}
memory::dims weight_dims(const WinogradShape& s) { return {std::get<2>(s), std::get<1>(s), 3, 3}; }
memory::dims output_dims(const WinogradShape& s) {
  return {std::get<0>(s), std::get<2>(s), std::get<3>(s) - 2, std::get<4>(s) - 2};
}

// Null when oneDNN has no Winograd kernel for this shape on this CPU.
std::shared_ptr<WinogradPlan> make_winograd_plan(const WinogradShape& shape) {
  const memory::desc src = any_layout(input_dims(shape));
  const memory::desc weights = any_layout(weight_dims(shape));
  const memory::desc bias = any_layout({std::get<2>(shape)});
  const memory::desc dst = any_layout(output_dims(shape));
  const auto algorithm = dnnl::algorithm::convolution_winograd;
  const memory::dims stride = {1, 1};
  const memory::dims padding = {0, 0};
  try {
    auto plan = std::make_shared<WinogradPlan>();
    plan->forward_desc = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, src, weights,
                                        bias, dst, stride, padding, padding),
        onednn::user_scratchpad(), cpu_engine());
    plan->forward = dnnl::convolution_forward(plan->forward_desc);
    plan->data_desc = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(algorithm, src, weights, dst, stride, padding,
                                              padding),
        onednn::user_scratchpad(), cpu_engine(), plan->forward_desc);
    plan->backward_data = dnnl::convolution_backward_data(plan->data_desc);
    plan->weights_desc = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(algorithm, src, weights, bias, dst, stride,
                                                 padding, padding),
        onednn::user_scratchpad(), cpu_engine(), plan->forward_desc);
    plan->backward_weights = dnnl::convolution_backward_weights(plan->weights_desc);
    return plan;
  } catch (const dnnl::error&) {
    return nullptr;  // unimplemented: this CPU or shape takes the direct path
  }
}

std::shared_ptr<WinogradPlan> winograd_plan_for(const WinogradShape& shape) {
  static RecentlyUsed<WinogradShape, std::shared_ptr<WinogradPlan>> plans(onednn::kMostPlans);
  return plans.get(shape, [&] { return make_winograd_plan(shape); });
}

WinogradShape shape_of(const at::Tensor& input, const at::Tensor& weight) {
  return {input.size(0), input.size(1), weight.size(0), input.size(2), input.size(3)};
}

at::Tensor run_forward(const WinogradPlan& plan, const WinogradShape& shape,
                       const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias) {
  dnnl::stream stream(cpu_engine());
  at::Tensor input_storage;
  at::Tensor weight_storage;
  const memory src = in_layout(plain(input, input_dims(shape), Layout::nchw),
                               plan.forward_desc.src_desc(), input_storage, stream);
  const memory weights = in_layout(plain(weight, weight_dims(shape), Layout::oihw),
                                   plan.forward_desc.weights_desc(), weight_storage, stream);
  memory bias_memory = plain(bias, {std::get<2>(shape)}, Layout::x);
  at::Tensor output = at::empty(output_dims(shape), input.options());
  memory dst = plain(output, output_dims(shape), Layout::nchw);
  at::Tensor scratch_storage;
  const memory scratch = onednn::scratch(plan.forward_desc.scratchpad_desc(), scratch_storage);
  into_plain(plan.forward_desc.dst_desc(), dst, stream, [&](memory& target) {
    plan.forward.execute(stream, {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, weights},
                                  {DNNL_ARG_BIAS, bias_memory},
                                  {DNNL_ARG_DST, target},
                                  {DNNL_ARG_SCRATCHPAD, scratch}});
  });
  stream.wait();
  return output;
}

class WinogradConvolution : public torch::autograd::Function<WinogradConvolution> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias) {
    const WinogradShape shape = shape_of(input, weight);
    context->save_for_backward({input, weight});
    return run_forward(*winograd_plan_for(shape), shape, input, weight, bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved = context->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& weight = saved[1];
    const WinogradShape shape = shape_of(input, weight);
    const WinogradPlan& plan = *winograd_plan_for(shape);
    const at::Tensor grad_output = gradients[0].contiguous();
    dnnl::stream stream(cpu_engine());
    const memory plain_grad_output = plain(grad_output, output_dims(shape), Layout::nchw);
    at::Tensor grad_input;
    at::Tensor grad_weight;
    at::Tensor grad_bias;

    if (context->needs_input_grad(0)) {
      at::Tensor weight_storage;
      at::Tensor grad_output_storage;
      const memory weights = in_layout(plain(weight, weight_dims(shape), Layout::oihw),
                                       plan.data_desc.weights_desc(), weight_storage, stream);
      const memory diff_dst =
          in_layout(plain_grad_output, plan.data_desc.diff_dst_desc(), grad_output_storage, stream);
      grad_input = at::empty(input_dims(shape), input.options());
      memory diff_src = plain(grad_input, input_dims(shape), Layout::nchw);
      into_plain(plan.data_desc.diff_src_desc(), diff_src, stream, [&](memory& target) {
        at::Tensor scratch_storage;
        plan.backward_data.execute(
            stream, {{DNNL_ARG_DIFF_DST, diff_dst},
                     {DNNL_ARG_WEIGHTS, weights},
                     {DNNL_ARG_DIFF_SRC, target},
                     {DNNL_ARG_SCRATCHPAD,
                      onednn::scratch(plan.data_desc.scratchpad_desc(), scratch_storage)}});
      });
    }
    if (context->needs_input_grad(1) || context->needs_input_grad(2)) {
      at::Tensor input_storage;
      at::Tensor grad_output_storage;
      const memory src = in_layout(plain(input, input_dims(shape), Layout::nchw),
                                   plan.weights_desc.src_desc(), input_storage, stream);
      const memory diff_dst = in_layout(plain_grad_output, plan.weights_desc.diff_dst_desc(),
                                        grad_output_storage, stream);
      grad_weight = at::empty(weight_dims(shape), weight.options());
      grad_bias = at::empty({std::get<2>(shape)}, weight.options());
      memory diff_weights = plain(grad_weight, weight_dims(shape), Layout::oihw);
      memory diff_bias = plain(grad_bias, {std::get<2>(shape)}, Layout::x);
      into_plain(plan.weights_desc.diff_weights_desc(), diff_weights, stream, [&](memory& target) {
        at::Tensor scratch_storage;
        plan.backward_weights.execute(
            stream, {{DNNL_ARG_SRC, src},
                     {DNNL_ARG_DIFF_DST, diff_dst},
                     {DNNL_ARG_DIFF_WEIGHTS, target},
                     {DNNL_ARG_DIFF_BIAS, diff_bias},
                     {DNNL_ARG_SCRATCHPAD,
                      onednn::scratch(plan.weights_desc.scratchpad_desc(), scratch_storage)}});
      });
    }
    stream.wait();
    return {grad_input, grad_weight, grad_bias};
  }
};

#endif  // CYCLEGAN_HAVE_DNNL

}  // namespace

// Without gradients, Winograd pays only on larger images: its weights are transformed on every
// call, which small images do not amortise. resnet_9blocks ngf 64 translating at 64 px (its
// blocks' 3x3 convolutions read 18x18 inputs): 45.5 and 43.9 images/s against 57.3 and 55.8
// direct; at 96 px (26x26): 31.0 and 30.7 against 27.8 and 28.0 (cyclegan_bench, 2 threads).
constexpr int64_t kMinimumInferencePixels = 24 * 24;

bool winograd_available() {
#ifdef CYCLEGAN_HAVE_DNNL
  static const bool available = winograd_plan_for(WinogradShape{1, 16, 16, 10, 10}) != nullptr;
  return available;
#else
  return false;
#endif
}

bool winograd_enabled() { return kernels::policy().winograd && winograd_available(); }

bool winograd_for_inference() {
  return kernels::policy().winograd_for_inference && winograd_enabled();
}

bool winograd_applies(const at::Tensor& input, const at::Tensor& weight) {
  return winograd_enabled() && input.device().is_cpu() && input.scalar_type() == at::kFloat &&
         weight.scalar_type() == at::kFloat && input.dim() == 4 && weight.dim() == 4 &&
         weight.size(2) == 3 && weight.size(3) == 3 && weight.size(1) == input.size(1) &&
         input.size(2) >= 3 && input.size(3) >= 3 && !input.is_mkldnn() &&
         input.layout() == at::kStrided;
}

at::Tensor winograd_conv3x3(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias) {
#ifdef CYCLEGAN_HAVE_DNNL
  if (winograd_applies(input, weight)) {
    // When gradients are wanted; translation keeps LibTorch's direct convolution unless asked.
    const bool training =
        at::GradMode::is_enabled() && (input.requires_grad() || weight.requires_grad() ||
                                       (bias.defined() && bias.requires_grad()));
    if (training ||
        (winograd_for_inference() && input.size(2) * input.size(3) >= kMinimumInferencePixels)) {
      const WinogradShape shape = shape_of(input, weight);
      if (const auto plan = winograd_plan_for(shape)) {
        const at::Tensor kernel_bias =
            kernels::detail::bias_or_zeros(bias, weight, weight.size(0)).contiguous();
        if (training) {
          return WinogradConvolution::apply(input.contiguous(), weight.contiguous(), kernel_bias);
        }
        return run_forward(*plan, shape, input.contiguous(), weight.contiguous(), kernel_bias);
      }
    }
  }
#endif
  return at::conv2d(input, weight, bias);
}

}  // namespace cyclegan
