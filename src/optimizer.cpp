#include "cyclegan/optimizer.h"

#include "cyclegan/gemm_conv.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>

namespace cyclegan {

namespace {

std::atomic<bool> fused_enabled{true};

struct AdamCoefficients {
  float beta1;
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float sqrt_bias_correction2;
  float eps;
  float negative_step_size;
};

// LibTorch's Adam, element by element:
//   exp_avg.mul_(beta1).add_(grad, 1 - beta1)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
//   denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
//   param.addcdiv_(exp_avg, denom, -lr / bias_correction1)
// This file is compiled with -fno-math-errno so that the square root vectorises.
void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t size,
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

// The parameters of one optimizer step that share a step count (in practice all of them) and
// are not fusable: updated together with LibTorch's multi-tensor (_foreach_) operators, as
// PyTorch's Adam does on CUDA. One launch per operator and list instead of six per parameter:
// a ResNet generator pair has 140 parameters, and on a GPU the launches, not the arithmetic,
// dominated the update.
struct ParameterLists {
  std::vector<at::Tensor> parameters;
  std::vector<at::Tensor> grads;
  std::vector<at::Tensor> exp_avgs;
  std::vector<at::Tensor> exp_avg_sqs;
};

void multi_tensor_adam_update(ParameterLists& lists, double beta1, double beta2,
                              double bias_correction2, double eps, double step_size) {
  at::_foreach_mul_(lists.exp_avgs, beta1);
  at::_foreach_add_(lists.exp_avgs, lists.grads, 1 - beta1);
  at::_foreach_mul_(lists.exp_avg_sqs, beta2);
  at::_foreach_addcmul_(lists.exp_avg_sqs, lists.grads, lists.grads, 1 - beta2);
  std::vector<at::Tensor> denominators = at::_foreach_sqrt(lists.exp_avg_sqs);
  at::_foreach_div_(denominators, std::sqrt(bias_correction2));
  at::_foreach_add_(denominators, eps);
  at::_foreach_addcdiv_(lists.parameters, lists.exp_avgs, denominators, -step_size);
}

bool fusable(const at::Tensor& tensor) {
  return tensor.device().is_cpu() && tensor.scalar_type() == at::kFloat &&
         tensor.layout() == at::kStrided && tensor.is_contiguous() && !tensor.is_mkldnn();
}

}  // namespace

namespace {

// Overloads on the key type, for one spelling of FusedAdam::state_key() on either version.
[[maybe_unused]] std::string state_key_of(c10::TensorImpl* impl, std::string* /*key type*/) {
  std::ostringstream text;  // what LibTorch's c10::guts::to_string(impl) wrote
  text << static_cast<const void*>(impl);
  return text.str();
}

[[maybe_unused]] void* state_key_of(c10::TensorImpl* impl, void** /*key type*/) { return impl; }

}  // namespace

FusedAdam::StateKey FusedAdam::state_key(const at::Tensor& parameter) {
  return state_key_of(parameter.unsafeGetTensorImpl(), static_cast<StateKey*>(nullptr));
}

void FusedAdam::set_enabled(bool enabled) { fused_enabled = enabled; }

bool FusedAdam::enabled() { return fused_enabled; }

torch::Tensor FusedAdam::step(LossClosure closure) {
  if (!fused_enabled) return Adam::step(std::move(closure));
  for (const auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (options.amsgrad() || options.weight_decay() != 0) return Adam::step(std::move(closure));
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(options.betas());
    const double beta2 = std::get<1>(options.betas());
    std::map<int64_t, ParameterLists> by_step;  // the parameters for multi_tensor_adam_update()
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      const at::Tensor& grad = parameter.grad();
      TORCH_CHECK(!grad.is_sparse(), "FusedAdam does not support sparse gradients");
      // The state's key and layout are Adam's own, so Adam::save/load read and write it.
      const StateKey key = state_key(parameter);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(parameter, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(parameter, at::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*found->second);
      state.step(state.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const double step_size = options.lr() / bias_correction1;
      at::Tensor& exp_avg = state.exp_avg();
      at::Tensor& exp_avg_sq = state.exp_avg_sq();
      if (fusable(parameter) && fusable(grad) && fusable(exp_avg) && fusable(exp_avg_sq)) {
        const AdamCoefficients coefficients{static_cast<float>(beta1),
                                            static_cast<float>(1 - beta1),
                                            static_cast<float>(beta2),
                                            static_cast<float>(1 - beta2),
                                            static_cast<float>(std::sqrt(bias_correction2)),
                                            static_cast<float>(options.eps()),
                                            static_cast<float>(-step_size)};
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
            adam_update(values + offset, gradients + offset, averages + offset, squares + offset,
                        (end - first) * block, coefficients);
            copies.write_rows(first, end);
          });
        } else {
          adam_update(values, gradients, averages, squares, parameter.numel(), coefficients);
        }
        // Written through its pointer: count the change, as an in-place operator would.
        parameter.unsafeGetTensorImpl()->bump_version();
        if (copies.row_blocks > 0) copies.mark_current();
      } else {
        ParameterLists& lists = by_step[state.step()];
        lists.parameters.push_back(parameter);
        lists.grads.push_back(grad);
        lists.exp_avgs.push_back(exp_avg);
        lists.exp_avg_sqs.push_back(exp_avg_sq);
      }
    }
    for (auto& [step, lists] : by_step) {
      multi_tensor_adam_update(lists, beta1, beta2, 1 - std::pow(beta2, step), options.eps(),
                               options.lr() / (1 - std::pow(beta1, step)));
    }
  }
  return loss;
}

}  // namespace cyclegan
