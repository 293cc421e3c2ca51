#include "optimizer.h"

#include "kernels/kernels.h"

#include <torch/autograd.h>

#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>

namespace cyclegan {

namespace {

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

torch::Tensor FusedAdam::step(LossClosure closure) {
  if (!kernels::policy().fused_adam) return Adam::step(std::move(closure));
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
      const kernels::AdamCoefficients coefficients{static_cast<float>(beta1),
                                                   static_cast<float>(1 - beta1),
                                                   static_cast<float>(beta2),
                                                   static_cast<float>(1 - beta2),
                                                   static_cast<float>(std::sqrt(bias_correction2)),
                                                   static_cast<float>(options.eps()),
                                                   static_cast<float>(-step_size)};
      if (!kernels::adam_update(parameter, grad, exp_avg, exp_avg_sq, coefficients)) {
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
