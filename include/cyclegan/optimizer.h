#pragma once

#include <torch/optim/adam.h>

#include <type_traits>
#include <utility>

namespace cyclegan {

/// torch::optim::Adam (same options, state, and save/load format, so checkpoints are
/// interchangeable) whose update of a contiguous CPU float32 parameter is one pass over memory:
/// both moments and the parameter are updated element by element, in parallel, with no
/// temporaries. LibTorch's Adam runs six whole-tensor operations per parameter and allocates
/// two temporaries as large as it; on the U-Nets' 108 M parameters that was half a second per
/// step. The arithmetic is Adam's, in float32, in the order LibTorch evaluates it; results can
/// differ from LibTorch's in the last bit (its vectorised kernels may fuse a multiply-add), and
/// are deterministic whatever the thread count. Parameters on other devices (CUDA), of other
/// dtypes or layouts get the same arithmetic through LibTorch's multi-tensor (_foreach_)
/// operators, a few launches per step rather than six per parameter, as PyTorch's Adam on CUDA.
/// amsgrad or weight decay take LibTorch's Adam::step.
class FusedAdam : public torch::optim::Adam {
 public:
  /// Process-wide switch (default on). Off: every step is LibTorch's Adam::step, to measure the
  /// difference (`cyclegan_bench train --no-fused-adam`).
  static void set_enabled(bool enabled);
  static bool enabled();

  /// The key of a parameter's entry in state(): its TensorImpl's address, as text up to
  /// LibTorch 2.1 and as the pointer itself from 2.2 on.
  using StateKey =
      std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
  static StateKey state_key(const at::Tensor& parameter);

  using Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace cyclegan
