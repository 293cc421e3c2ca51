#include "step_graphs.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <exception>
#include <string>
#include <utility>

#include "console_log.h"
#include "cuda_graph.h"

namespace cyclegan {

struct StepGraphs::Recording {
  CudaGraph generators;
  CudaGraph discriminators;   // shares the generators' memory pool: they never run at once
  at::Tensor real_a, real_b;  // copied in before each replay
  at::Tensor pooled_fake_a, pooled_fake_b;  // the history pools' answers, copied in between
  at::Tensor fake_a, fake_b;                // written by the generators' graph
  StepTerms terms;
};

StepGraphs::StepGraphs(c10::Device device, bool enabled, StepPhases phases)
    : device_(device), enabled_(enabled), phases_(std::move(phases)) {}
StepGraphs::~StepGraphs() = default;

void StepGraphs::reset() { recording_.reset(); }

void StepGraphs::set_enabled(bool enabled) {
  enabled_ = enabled;
  if (!enabled) recording_.reset();
}

void StepGraphs::record(const at::Tensor& real_a, const at::Tensor& real_b) {
  auto recording = std::make_unique<Recording>();
  const auto options = real_a.options().device(device_);
  recording->real_a = at::empty(real_a.sizes(), options);
  recording->real_b = at::empty(real_b.sizes(), options);
  // fake_a = G_BA(real_b) has real_b's shape, and fake_b real_a's.
  recording->pooled_fake_a = at::empty(real_b.sizes(), options);
  recording->pooled_fake_b = at::empty(real_a.sizes(), options);
  Recording& r = *recording;
  r.generators.capture(device_, [&] {
    r.terms.generators = phases_.generators(r.real_a, r.real_b, &r.fake_a, &r.fake_b);
  });
  r.discriminators.capture(
      device_,
      [&] {
        r.terms.discriminators =
            phases_.discriminators(r.real_a, r.real_b, r.pooled_fake_a, r.pooled_fake_b);
      },
      &r.generators);
  recording_ = std::move(recording);
}

bool StepGraphs::run(const at::Tensor& real_a, const at::Tensor& real_b, int64_t step,
                     StepTerms* terms) {
  if (!enabled_ || !device_.is_cuda() || failed_) return false;
  if (recording_ && !(recording_->real_a.sizes() == real_a.sizes() &&
                      recording_->real_b.sizes() == real_b.sizes())) {
    recording_.reset();  // a step kernel by kernel drops the graphs' gradients from .grad
  }
  if (!recording_) {
    // A shape's first step runs kernel by kernel: cuDNN picks its algorithms and LibTorch makes
    // its handles and workspaces then, none of which may happen while recording.
    std::vector<int64_t> shapes = real_a.sizes().vec();
    for (const int64_t size : real_b.sizes()) shapes.push_back(size);
    if (shapes != last_eager_shapes_) {
      last_eager_shapes_ = shapes;
      return false;
    }
    std::string failure;
    try {
      record(real_a, real_b);
    } catch (const c10::Error& e) {
      failure = e.what_without_backtrace();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      console::warn("cannot record the training step as CUDA graphs (" + failure +
                    "); stepping kernel by kernel");
      recording_.reset();
      failed_ = true;
      return false;
    }
    if (!announced_) {
      console::info("step " + std::to_string(step) +
                    " on: replaying the training step as CUDA graphs (train.cuda_graphs)");
      announced_ = true;
    }
  }
  Recording& r = *recording_;
  r.real_a.copy_(real_a);
  r.real_b.copy_(real_b);
  r.generators.replay();
  r.pooled_fake_a.copy_(phases_.pool_a(r.fake_a));
  r.pooled_fake_b.copy_(phases_.pool_b(r.fake_b));
  r.discriminators.replay();
  *terms = r.terms;
  return true;
}

}  // namespace cyclegan
