#include "cyclegan/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cyclegan {

namespace {

// The official trainer's fixed settings of its step and plateau schedulers.
constexpr double kStepFactor = 0.1;
constexpr double kPlateauFactor = 0.2;
constexpr double kPlateauThreshold = 0.01;  // relative: better means below best * (1 - 0.01)
constexpr int64_t kPlateauPatience = 5;
constexpr double kPlateauMinimumChange = 1e-8;  // PyTorch's eps: smaller reductions are skipped

}  // namespace

const std::vector<std::string>& learning_rate_policies() {
  static const std::vector<std::string> kPolicies = {"linear", "step", "plateau", "cosine"};
  return kPolicies;
}

LearningRateSchedule::LearningRateSchedule(const ScheduleOptions& options) : options_(options) {
  const auto& policies = learning_rate_policies();
  if (std::find(policies.begin(), policies.end(), options.policy) == policies.end()) {
    throw std::invalid_argument(
        "learning-rate policy must be linear, step, plateau or cosine, got '" + options.policy +
        "'");
  }
  if (options.constant_epochs < 0 || options.decay_epochs < 0) {
    throw std::invalid_argument("learning-rate schedule: epochs must be >= 0, got " +
                                std::to_string(options.constant_epochs) + " and " +
                                std::to_string(options.decay_epochs));
  }
  if (options.policy == "step" && options.step_epochs < 1) {
    throw std::invalid_argument("learning-rate policy step: step_epochs must be >= 1, got " +
                                std::to_string(options.step_epochs));
  }
  if (options.policy == "cosine" && options.constant_epochs < 1) {
    throw std::invalid_argument("learning-rate policy cosine anneals over epochs >= 1, got " +
                                std::to_string(options.constant_epochs));
  }
  plateau_.rate = options.base_rate;
}

double LearningRateSchedule::rate(int64_t epoch) const {
  const double base = options_.base_rate;
  if (options_.policy == "linear") {
    const int64_t into_decay =
        std::clamp<int64_t>(epoch - options_.constant_epochs + 1, 0, options_.decay_epochs);
    return base *
           (1.0 - static_cast<double>(into_decay) / static_cast<double>(options_.decay_epochs + 1));
  }
  if (options_.policy == "step") {
    double rate = base;  // multiplied step by step, as PyTorch's StepLR does
    for (int64_t k = 0; k < epoch / options_.step_epochs; ++k) rate *= kStepFactor;
    return rate;
  }
  if (options_.policy == "cosine") {
    const double pi = std::acos(-1.0);
    return base *
           (1.0 + std::cos(pi * static_cast<double>(epoch) /
                           static_cast<double>(options_.constant_epochs))) /
           2.0;
  }
  return plateau_.rate;
}

void LearningRateSchedule::record_loss(double generator_loss) {
  if (options_.policy != "plateau") return;
  plateau_.loss_sum += generator_loss;
  ++plateau_.loss_count;
}

void LearningRateSchedule::end_epoch() {
  if (options_.policy != "plateau") return;
  if (plateau_.loss_count > 0) {
    const double mean = plateau_.loss_sum / static_cast<double>(plateau_.loss_count);
    if (plateau_.epochs_seen == 0 || mean < plateau_.best_loss * (1.0 - kPlateauThreshold)) {
      plateau_.best_loss = mean;
      plateau_.bad_epochs = 0;
    } else {
      ++plateau_.bad_epochs;
    }
    ++plateau_.epochs_seen;
    if (plateau_.bad_epochs > kPlateauPatience) {
      const double lowered = plateau_.rate * kPlateauFactor;
      if (plateau_.rate - lowered > kPlateauMinimumChange) plateau_.rate = lowered;
      plateau_.bad_epochs = 0;
    }
  }
  plateau_.loss_sum = 0;
  plateau_.loss_count = 0;
}

}  // namespace cyclegan
