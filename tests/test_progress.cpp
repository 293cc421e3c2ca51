#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

#include "progress.h"

namespace cyclegan {
namespace {

ProgressState middle_of_epoch() {
  ProgressState state;
  state.epoch = 3;
  state.epochs = 200;
  state.step_in_epoch = 45;
  state.steps_per_epoch = 60;
  state.step = 165;
  state.total_steps = 12000;
  state.seconds_per_step = 0.5;
  state.losses.d_a = 0.25;
  state.losses.d_b = 0.125;
  state.losses.g_total = 3.5;
  return state;
}

TEST(ProgressBar, ShowsEpochStepRateEtasAndLosses) {
  const std::string line = format_progress_bar(middle_of_epoch(), 120);
  EXPECT_EQ(line.rfind("epoch 3/200 [", 0), 0u) << line;
  EXPECT_NE(line.find(" 45/60 "), std::string::npos) << line;
  EXPECT_NE(line.find("2.00 step/s"), std::string::npos) << line;
  // 15 steps left in the epoch at 0.5 s, 11835 in the run.
  EXPECT_NE(line.find("ETA 0m07s, run 1h38m"), std::string::npos) << line;
  EXPECT_NE(line.find("D 0.250 0.125 | G 3.500"), std::string::npos) << line;
  // Three quarters of the epoch: three quarters of the bar filled.
  const auto open = line.find('[');
  const std::string bar = line.substr(open + 1, line.find(']') - open - 1);
  EXPECT_EQ(bar.size(), 30u);
  EXPECT_EQ(bar.find('>'), 22u) << bar;
}

TEST(ProgressBar, FitsNarrowTerminals) {
  for (int width : {200, 100, 80, 60, 40}) {
    const std::string line = format_progress_bar(middle_of_epoch(), width);
    EXPECT_LE(static_cast<int>(line.size()), width) << line;
    EXPECT_EQ(line.rfind("epoch 3/200", 0), 0u) << line;
  }
}

TEST(StatusLine, LogMessagesPrintAboveTheStatusWhichIsRedrawn) {
  std::FILE* stream = std::tmpfile();
  ASSERT_NE(stream, nullptr);
  auto sink = std::make_shared<StatusLineSink>(stream);
  sink->set_pattern("%l %v");
  spdlog::logger log("status_test", sink);
  sink->set_status("epoch 1/2 [==>   ] 1/3");
  log.info("wrote checkpoint");
  sink->set_status("epoch 1/2 [====> ] 2/3");
  sink->finish_status();
  log.info("done");
  std::rewind(stream);
  std::string written;
  for (int c; (c = std::fgetc(stream)) != EOF;) written.push_back(static_cast<char>(c));
  std::fclose(stream);
  EXPECT_EQ(written,
            "\r\033[Kepoch 1/2 [==>   ] 1/3"
            "\r\033[Kinfo wrote checkpoint\nepoch 1/2 [==>   ] 1/3"
            "\r\033[Kepoch 1/2 [====> ] 2/3\n"
            "info done\n");
}

TEST(Duration, MinutesUnderAnHourThenHours) {
  EXPECT_EQ(format_duration(7.9), "0m07s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600 * 26 + 60 * 3), "26h03m");
  EXPECT_EQ(format_duration(-5), "0m00s");
}

}  // namespace
}  // namespace cyclegan
