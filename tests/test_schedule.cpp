#include <gtest/gtest.h>

#include <stdexcept>

#include "cyclegan/schedule.h"

namespace cyclegan {
namespace {

TEST(LinearDecaySchedule, ConstantThenLinearAtEpochBoundaries) {
  const LinearDecaySchedule schedule(1.0, 3, 4);
  EXPECT_EQ(schedule.total_epochs(), 7);
  EXPECT_DOUBLE_EQ(schedule.rate(0), 1.0);
  EXPECT_DOUBLE_EQ(schedule.rate(2), 1.0);  // last constant epoch
  EXPECT_DOUBLE_EQ(schedule.rate(3), 0.8);  // first decay epoch
  EXPECT_DOUBLE_EQ(schedule.rate(4), 0.6);
  EXPECT_DOUBLE_EQ(schedule.rate(5), 0.4);
  EXPECT_DOUBLE_EQ(schedule.rate(6), 0.2);  // last epoch still learns
}

TEST(LinearDecaySchedule, NoEpochTrainsAtRateZero) {
  const LinearDecaySchedule schedule(2e-4, 100, 100);
  for (int64_t epoch = 0; epoch < schedule.total_epochs(); ++epoch) {
    EXPECT_GT(schedule.rate(epoch), 0.0) << epoch;
    if (epoch > 0) {
      EXPECT_LE(schedule.rate(epoch), schedule.rate(epoch - 1)) << epoch;
    }
  }
  EXPECT_NEAR(schedule.rate(199), 2e-4 / 101, 1e-12);
}

TEST(LinearDecaySchedule, WithoutDecayEpochsTheRateStaysConstant) {
  const LinearDecaySchedule schedule(0.5, 5, 0);
  for (int64_t epoch = 0; epoch < 8; ++epoch) EXPECT_DOUBLE_EQ(schedule.rate(epoch), 0.5);
}

TEST(LinearDecaySchedule, RejectsNegativeEpochs) {
  EXPECT_THROW(LinearDecaySchedule(1.0, -1, 2), std::invalid_argument);
}

}  // namespace
}  // namespace cyclegan
