#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include "cyclegan/losses.h"

namespace cyclegan {

/// Where training stands after a step, for the progress display.
struct ProgressState {
  int64_t epoch = 1;  ///< 1-based
  int64_t epochs = 1;
  int64_t step_in_epoch = 0;  ///< steps done in this epoch
  int64_t steps_per_epoch = 1;
  int64_t step = 0;  ///< steps done in the run
  int64_t total_steps = 1;
  double seconds_per_step = 0;  ///< recent mean
  StepLosses losses;
};

/// "epoch 3/200 [=====>    ] 45/60 | 1.45 step/s | ETA 0m10s, run 2h03m | D 0.29 0.24 | G 3.53"
/// fitted to `width` columns (the bar shrinks first, then goes).
std::string format_progress_bar(const ProgressState& state, int width);

/// "1h02m" / "3m07s".
std::string format_duration(double seconds);

/// A console sink that keeps one status line (the progress bar) at the bottom of a terminal:
/// log messages are printed above it and the status is redrawn under them.
class StatusLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit StatusLineSink(std::FILE* stream = stderr);
  /// Redraws the status line (no newline).
  void set_status(const std::string& line);
  /// Leaves the current status on screen as an ordinary line and stops redrawing it.
  void finish_status();

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override;

 private:
  std::FILE* stream_;
  std::string status_;
};

/// Columns of the terminal on `stream`, or `fallback` when it is not one.
int terminal_width(std::FILE* stream, int fallback = 100);

}  // namespace cyclegan
