#include "kernels.h"

namespace cyclegan::kernels {

namespace {

// Per thread, so that two runs in one process (tests, a translator beside a trainer) never see
// each other's settings.
Policy& thread_policy() {
  thread_local Policy policy;
  return policy;
}

}  // namespace

Policy Policy::plain() {
  Policy policy;
  policy.winograd = false;
  policy.winograd_for_inference = false;
  policy.gemm_conv = false;
  policy.few_channel_conv = false;
  policy.norm_kernels = false;
  policy.no_grad_kernels = false;
  policy.fused_adam = false;
  policy.bf16_weight_copies = false;
  return policy;
}

const Policy& policy() { return thread_policy(); }

PolicyGuard::PolicyGuard(const Policy& policy) : previous_(thread_policy()) {
  thread_policy() = policy;
}

PolicyGuard::~PolicyGuard() { thread_policy() = previous_; }

}  // namespace cyclegan::kernels
