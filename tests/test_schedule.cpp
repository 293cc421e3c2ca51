#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cyclegan/schedule.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

ScheduleOptions options_of(const std::string& policy, double base_rate, int64_t constant_epochs,
                           int64_t decay_epochs, int64_t step_epochs = 50) {
  ScheduleOptions options;
  options.policy = policy;
  options.base_rate = base_rate;
  options.constant_epochs = constant_epochs;
  options.decay_epochs = decay_epochs;
  options.step_epochs = step_epochs;
  return options;
}

LearningRateSchedule schedule_of(const std::string& policy, double base_rate,
                                 int64_t constant_epochs, int64_t decay_epochs,
                                 int64_t step_epochs = 50) {
  return LearningRateSchedule(
      options_of(policy, base_rate, constant_epochs, decay_epochs, step_epochs));
}

// Our rate for every epoch, plateau fed `losses` (one per epoch) as the trainer feeds it.
std::vector<double> our_rates(LearningRateSchedule schedule, const std::vector<double>& losses) {
  std::vector<double> rates;
  for (int64_t epoch = 0; epoch < schedule.total_epochs(); ++epoch) {
    rates.push_back(schedule.rate(epoch));
    if (!losses.empty()) schedule.record_loss(losses[static_cast<size_t>(epoch)]);
    schedule.end_epoch();
  }
  return rates;
}

struct Case {
  ScheduleOptions options;
  std::vector<double> losses;
};

// PyTorch's rates for each case (tests/reference/lr_schedules.py, one Python process for all).
std::vector<std::vector<double>> pytorch_rates(const std::vector<Case>& cases) {
  std::ostringstream json;
  json.precision(17);
  json << "[";
  for (size_t c = 0; c < cases.size(); ++c) {
    const ScheduleOptions& options = cases[c].options;
    json << (c ? ", " : "") << "{\"policy\": \"" << options.policy
         << "\", \"base_rate\": " << options.base_rate
         << ", \"epochs\": " << options.constant_epochs
         << ", \"decay_epochs\": " << options.decay_epochs
         << ", \"step_epochs\": " << options.step_epochs << ", \"losses\": [";
    for (size_t i = 0; i < cases[c].losses.size(); ++i)
      json << (i ? ", " : "") << cases[c].losses[i];
    json << "]}";
  }
  json << "]";
  const std::string script = (testing::source_dir() / "tests/reference/lr_schedules.py").string();
  const auto [status, output] =
      testing::run_shell("/usr/bin/python3 '" + script + "' '" + json.str() + "'");
  EXPECT_EQ(status, 0) << "tests/reference/lr_schedules.py failed (Debian's python3-torch; "
                          "scripts/setup.sh installs it):\n"
                       << output;
  std::vector<std::vector<double>> rates;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream numbers(line);
    rates.emplace_back();
    for (double rate; numbers >> rate;) rates.back().push_back(rate);
  }
  return rates;
}

TEST(LearningRateSchedule, LinearIsConstantThenFallsAtEpochBoundaries) {
  const LearningRateSchedule schedule = schedule_of("linear", 1.0, 3, 4);
  EXPECT_EQ(schedule.total_epochs(), 7);
  EXPECT_DOUBLE_EQ(schedule.rate(0), 1.0);
  EXPECT_DOUBLE_EQ(schedule.rate(2), 1.0);  // last constant epoch
  EXPECT_DOUBLE_EQ(schedule.rate(3), 0.8);  // first decay epoch
  EXPECT_DOUBLE_EQ(schedule.rate(4), 0.6);
  EXPECT_DOUBLE_EQ(schedule.rate(5), 0.4);
  EXPECT_DOUBLE_EQ(schedule.rate(6), 0.2);  // last epoch still learns
}

TEST(LearningRateSchedule, LinearNeverTrainsAnEpochAtRateZero) {
  const LearningRateSchedule schedule = schedule_of("linear", 2e-4, 100, 100);
  for (int64_t epoch = 0; epoch < schedule.total_epochs(); ++epoch) {
    EXPECT_GT(schedule.rate(epoch), 0.0) << epoch;
    if (epoch > 0) {
      EXPECT_LE(schedule.rate(epoch), schedule.rate(epoch - 1)) << epoch;
    }
  }
  EXPECT_NEAR(schedule.rate(199), 2e-4 / 101, 1e-12);
}

TEST(LearningRateSchedule, LinearWithoutDecayEpochsStaysConstant) {
  const LearningRateSchedule schedule = schedule_of("linear", 0.5, 5, 0);
  for (int64_t epoch = 0; epoch < 8; ++epoch) EXPECT_DOUBLE_EQ(schedule.rate(epoch), 0.5);
}

// Every policy against PyTorch's scheduler configured and stepped as the official trainer does;
// plateau on losses that fall, stall, fall again and stall long enough to reach PyTorch's
// smallest change, and on the official trainer's constant metric.
TEST(LearningRateSchedule, EveryPolicyGivesPyTorchsRatePerEpoch) {
  std::vector<double> shaped;
  for (int epoch = 0; epoch < 80; ++epoch) {
    double loss = epoch < 8 ? 5.0 * std::pow(0.9, epoch) : 2.2 + 0.01 * std::sin(epoch);
    if (epoch >= 25) loss = 1.0 + (epoch % 3) * 0.004;  // 1 % better, then within the threshold
    shaped.push_back(loss);
  }
  const std::vector<double> constant(120, 0.0);
  std::vector<Case> cases;
  cases.push_back({options_of("linear", 2e-4, 100, 100), {}});
  cases.push_back({options_of("linear", 0.5, 3, 4), {}});
  cases.push_back({options_of("step", 2e-4, 30, 20, 7), {}});
  cases.push_back({options_of("step", 1e-3, 5, 0, 1), {}});
  cases.push_back({options_of("cosine", 2e-4, 10, 15), {}});
  cases.push_back({options_of("cosine", 2e-4, 200, 0), {}});
  cases.push_back({options_of("plateau", 2e-4, 60, 20), shaped});
  cases.push_back({options_of("plateau", 2e-4, 100, 20), constant});
  const std::vector<std::vector<double>> all_theirs = pytorch_rates(cases);
  ASSERT_EQ(all_theirs.size(), cases.size());
  for (size_t index = 0; index < cases.size(); ++index) {
    const Case& c = cases[index];
    const std::vector<double> ours = our_rates(LearningRateSchedule(c.options), c.losses);
    const std::vector<double>& theirs = all_theirs[index];
    ASSERT_EQ(ours.size(), theirs.size()) << c.options.policy;
    double largest = 0;
    for (size_t epoch = 0; epoch < ours.size(); ++epoch) {
      largest = std::max(largest, std::abs(ours[epoch] - theirs[epoch]));
      EXPECT_NEAR(ours[epoch], theirs[epoch], 1e-12 * c.options.base_rate)
          << c.options.policy << " epoch " << epoch;
    }
    std::cout << c.options.policy << " (" << c.options.constant_epochs << " + "
              << c.options.decay_epochs << " epochs): largest difference from PyTorch " << largest
              << " of base rate " << c.options.base_rate << "\n";
  }
}

TEST(LearningRateSchedule, PlateauWatchesTheMeanOfTheEpochsSteps) {
  LearningRateSchedule schedule = schedule_of("plateau", 1.0, 20, 0);
  // Epoch 0 sets the best mean (2.0); then six epochs whose steps vary widely but whose mean is
  // no better: the sixth lowers the rate. A single low step would have counted as better.
  auto epoch_of = [&](std::initializer_list<double> losses) {
    for (double loss : losses) schedule.record_loss(loss);
    schedule.end_epoch();
  };
  epoch_of({1.0, 3.0});
  for (int epoch = 0; epoch < 5; ++epoch) {
    epoch_of({0.5, 3.5});
    EXPECT_DOUBLE_EQ(schedule.rate(0), 1.0) << epoch;
  }
  epoch_of({0.5, 3.5});
  EXPECT_DOUBLE_EQ(schedule.rate(0), 0.2);
  EXPECT_EQ(schedule.plateau_state().epochs_seen, 7);
  EXPECT_EQ(schedule.plateau_state().bad_epochs, 0);
  EXPECT_EQ(schedule.plateau_state().loss_count, 0);
}

TEST(LearningRateSchedule, OtherPoliciesIgnoreLosses) {
  for (const char* policy : {"linear", "step", "cosine"}) {
    LearningRateSchedule schedule = schedule_of(policy, 1.0, 10, 10, 3);
    const LearningRateSchedule untouched = schedule;
    for (int epoch = 0; epoch < 20; ++epoch) {
      schedule.record_loss(100.0 - epoch);
      schedule.end_epoch();
      EXPECT_DOUBLE_EQ(schedule.rate(epoch), untouched.rate(epoch)) << policy;
    }
  }
}

TEST(LearningRateSchedule, RejectsWhatNoPolicyCanRun) {
  EXPECT_THROW(schedule_of("linear", 1.0, -1, 2), std::invalid_argument);
  EXPECT_THROW(schedule_of("exponential", 1.0, 10, 0), std::invalid_argument);
  EXPECT_THROW(schedule_of("step", 1.0, 10, 0, 0), std::invalid_argument);
  EXPECT_THROW(schedule_of("cosine", 1.0, 0, 10), std::invalid_argument);
}

}  // namespace
}  // namespace cyclegan
