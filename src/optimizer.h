#pragma once

#include <torch/optim/adam.h>

#include <type_traits>
#include <utility>

namespace cyclegan {

/// torch::optim::Adam (same options, state, and save/load format, so checkpoints are
/// interchangeable) that updates each contiguous CPU float32 parameter in one pass over memory
/// (kernels::adam_update) and the others through LibTorch's multi-tensor (_foreach_) operators,
/// as PyTorch's Adam does on CUDA. The arithmetic is Adam's, in float32, in LibTorch's order;
/// results can differ from LibTorch's in the last bit and do not depend on the thread count.
/// amsgrad, weight decay, or a kernel policy without fused_adam take LibTorch's Adam::step.
class FusedAdam : public torch::optim::Adam {
 public:
  /// The key of a parameter's entry in state(): its TensorImpl's address, as text up to
  /// LibTorch 2.1 and as the pointer itself from 2.2 on.
  using StateKey =
      std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
  static StateKey state_key(const at::Tensor& parameter);

  using Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace cyclegan
