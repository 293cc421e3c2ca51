#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cyclegan {

/// The learning-rate policies of the official trainer (--lr_policy), stepped once per epoch. A run
/// lasts constant_epochs + decay_epochs epochs whatever the policy.
struct ScheduleOptions {
  std::string policy = "linear";  ///< linear | step | plateau | cosine
  double base_rate = 2e-4;
  int64_t constant_epochs = 100;  ///< train.epochs (cosine: the epochs it anneals over)
  int64_t decay_epochs = 100;     ///< train.decay_epochs (linear: the epochs it decays over)
  int64_t step_epochs = 50;       ///< step: epochs between x0.1 (official --lr_decay_iters)
};

/// Policy names in the order of the documentation.
const std::vector<std::string>& learning_rate_policies();

/// What plateau has seen: the state a checkpoint holds. PyTorch's ReduceLROnPlateau as the official
/// trainer configures it (mode min, factor 0.2, relative threshold 0.01, patience 5).
struct PlateauState {
  double rate = 0;          ///< the rate now
  double best_loss = 0;     ///< lowest epoch mean so far (meaningless while epochs_seen == 0)
  int64_t epochs_seen = 0;  ///< epochs ended
  int64_t bad_epochs = 0;   ///< epochs since the last improvement of more than 1 %
  double loss_sum = 0;      ///< generator losses of the current epoch so far
  int64_t loss_count = 0;
};

/// Rate per epoch. Epoch e (0-based) trains at the rate the official scheduler gives after e
/// steps: linear is constant for constant_epochs, then epoch k of the decay (1-based) trains at
/// 1 - k / (decay_epochs + 1) of the base rate, so the last epoch still learns; step multiplies by
/// 0.1 every step_epochs; cosine anneals to 0 at epoch constant_epochs (and, past it, rises again
/// as PyTorch's CosineAnnealingLR does); plateau multiplies by 0.2 after 5 epochs in a row whose
/// mean generator loss is not 1 % below the best mean so far. (The official trainer feeds its
/// plateau scheduler a constant 0, which makes it a fixed x0.2 every 6 epochs.)
class LearningRateSchedule {
 public:
  /// Throws std::invalid_argument for an unknown policy or out-of-range epochs.
  explicit LearningRateSchedule(const ScheduleOptions& options = {});

  /// Rate for 0-based `epoch`. Plateau ignores it: the rate after the epochs ended so far.
  double rate(int64_t epoch) const;
  int64_t total_epochs() const { return options_.constant_epochs + options_.decay_epochs; }
  const ScheduleOptions& options() const { return options_; }

  /// Plateau: one step's generator loss, towards the epoch's mean. Other policies ignore it.
  void record_loss(double generator_loss);
  /// Plateau: compares the epoch's mean loss with the best so far, and may lower the rate.
  void end_epoch();

  const PlateauState& plateau_state() const { return plateau_; }
  void restore(const PlateauState& state) { plateau_ = state; }

 private:
  ScheduleOptions options_;
  PlateauState plateau_;
};

}  // namespace cyclegan
