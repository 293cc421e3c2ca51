#pragma once

// Checks shared by the tests of our own convolution paths (Winograd, oneDNN GEMM): they must
// compute what LibTorch computes, forward and in every gradient, to float rounding.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "cyclegan/networks.h"
#include "kernels/kernels.h"

namespace cyclegan::testing {

/// This thread's kernel policy with one of its fields changed, for a scope (kernels::PolicyGuard).
template <typename Value>
class PolicySwitch {
 public:
  PolicySwitch(Value kernels::Policy::*field, Value value) : guard_(with(field, value)) {}

 private:
  static kernels::Policy with(Value kernels::Policy::*field, Value value) {
    kernels::Policy policy = kernels::policy();
    policy.*field = value;
    return policy;
  }
  kernels::PolicyGuard guard_;
};

/// Largest |a - b| relative to the largest |b|.
inline double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

struct Outputs {
  at::Tensor expected;
  at::Tensor actual;
};

/// Runs `reference(x, w, b)` and `ours(x, w, b)`, backpropagates one random upstream gradient
/// through both and expects the outputs and the gradients of x, w and b to agree within 1e-5
/// relative. Returns both outputs.
template <typename Reference, typename Ours>
Outputs expect_same_output_and_gradients(const at::Tensor& x, const at::Tensor& w,
                                         const at::Tensor& b, Reference reference, Ours ours) {
  const at::Tensor expected = reference(x, w, b);
  const at::Tensor upstream = torch::randn(expected.sizes());
  const auto expected_grads = torch::autograd::grad({expected}, {x, w, b}, {upstream});
  const at::Tensor actual = ours(x, w, b);
  const auto actual_grads = torch::autograd::grad({actual}, {x, w, b}, {upstream});

  EXPECT_EQ(actual.sizes(), expected.sizes());
  if (actual.sizes() == expected.sizes()) {
    EXPECT_LT(relative_difference(actual, expected), 1e-5);
  }
  const char* names[] = {"input", "weight", "bias"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(relative_difference(actual_grads[i], expected_grads[i]), 1e-5) << names[i];
  }
  return {expected, actual};
}

/// forward(x) (detached) followed by the gradients of `network`'s parameters for the loss
/// mean(forward(x)^2), in parameter order. Left out: the biases an InstanceNorm cancels, whose
/// exact gradient is zero and whose computed one is rounding noise on any path.
template <typename Forward>
std::vector<at::Tensor> output_and_parameter_gradients(torch::nn::Module& network, Forward forward,
                                                       const at::Tensor& x) {
  network.zero_grad();
  const at::Tensor y = forward(x);
  y.square().mean().backward();
  std::vector<at::Tensor> results{y.detach()};
  const auto cancelled = biases_cancelled_by_normalisation(network);
  for (const auto& parameter : network.parameters()) {
    const bool noise = std::any_of(cancelled.begin(), cancelled.end(),
                                   [&](const at::Tensor& b) { return b.is_same(parameter); });
    if (!noise) results.push_back(parameter.grad().clone());
  }
  return results;
}

}  // namespace cyclegan::testing
