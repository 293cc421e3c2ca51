#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace cyclegan {

/// The two halves of a training step as the trainer computes them, for StepGraphs to record.
struct StepPhases {
  /// The generators' half: returns its loss terms and writes the detached fakes.
  std::function<at::Tensor(const at::Tensor& real_a, const at::Tensor& real_b, at::Tensor* fake_a,
                           at::Tensor* fake_b)>
      generators;
  /// The history pools' answers for the fakes; runs between the halves, outside any graph.
  std::function<at::Tensor(const at::Tensor& fake_a)> pool_a;
  std::function<at::Tensor(const at::Tensor& fake_b)> pool_b;
  /// The discriminators' half: returns its loss terms.
  std::function<at::Tensor(const at::Tensor& real_a, const at::Tensor& real_b,
                           const at::Tensor& pooled_fake_a, const at::Tensor& pooled_fake_b)>
      discriminators;
};

/// The loss terms of a step's two halves, as the phases returned them.
struct StepTerms {
  at::Tensor generators;
  at::Tensor discriminators;
};

/// Replays a training step's two halves from CUDA graphs (cuda_graph.h): the first step of a
/// shape runs kernel by kernel, the second records both halves, every later one replays them.
/// The gradients the halves leave in .grad live in the graphs' memory, where every replay
/// rewrites them and the optimizers read them. A failed recording is reported once, and the run
/// goes on kernel by kernel.
class StepGraphs {
 public:
  /// Records `phases`; replays only where `enabled` and `device` is a GPU.
  StepGraphs(c10::Device device, bool enabled, StepPhases phases);
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  /// Runs step number `step` from the graphs and returns its terms, or returns false without
  /// running anything when the caller must run the step kernel by kernel.
  bool run(const at::Tensor& real_a, const at::Tensor& real_b, int64_t step, StepTerms* terms);

  /// Off: drops the recorded graphs; on: records again from the next steps.
  void set_enabled(bool enabled);
  /// Drops the recorded graphs, which hold the parameters' storage: call before replacing it.
  void reset();
  /// Whether graphs are recorded (the last step replayed them).
  bool replaying() const { return recording_ != nullptr; }

 private:
  struct Recording;  // the two graphs and the tensors they read and write
  void record(const at::Tensor& real_a, const at::Tensor& real_b);

  c10::Device device_;
  bool enabled_;
  StepPhases phases_;
  std::unique_ptr<Recording> recording_;
  std::vector<int64_t> last_eager_shapes_;  // real_a's then real_b's sizes
  bool failed_ = false;                     // a recording failed: kernel by kernel from then on
  bool announced_ = false;                  // the log says once that steps replay graphs
};

}  // namespace cyclegan
