#pragma once

#include <cstdint>

namespace cyclegan {

/// Learning-rate policy of CycleGAN §7.1: constant for `constant_epochs`, then linear decay over
/// `decay_epochs`. Epoch e of the decay (1-based) trains at 1 - e / (decay_epochs + 1), so every
/// epoch learns something and the last one runs at 1 / (decay_epochs + 1) of the base rate.
class LinearDecaySchedule {
 public:
  LinearDecaySchedule(double base_rate, int64_t constant_epochs, int64_t decay_epochs);

  /// Rate for 0-based `epoch`.
  double rate(int64_t epoch) const;
  int64_t total_epochs() const { return constant_epochs_ + decay_epochs_; }

 private:
  double base_rate_;
  int64_t constant_epochs_;
  int64_t decay_epochs_;
};

}  // namespace cyclegan
