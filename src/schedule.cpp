#include "cyclegan/schedule.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace cyclegan {

LinearDecaySchedule::LinearDecaySchedule(double base_rate, int64_t constant_epochs,
                                         int64_t decay_epochs)
    : base_rate_(base_rate), constant_epochs_(constant_epochs), decay_epochs_(decay_epochs) {
  if (constant_epochs < 0 || decay_epochs < 0) {
    throw std::invalid_argument("LinearDecaySchedule: epochs must be >= 0, got " +
                                std::to_string(constant_epochs) + " and " +
                                std::to_string(decay_epochs));
  }
}

double LinearDecaySchedule::rate(int64_t epoch) const {
  const int64_t into_decay = std::clamp<int64_t>(epoch - constant_epochs_ + 1, 0, decay_epochs_);
  return base_rate_ *
         (1.0 - static_cast<double>(into_decay) / static_cast<double>(decay_epochs_ + 1));
}

}  // namespace cyclegan
