#include "progress.h"

#include <spdlog/fmt/fmt.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace cyclegan {

namespace {

// Erases the terminal line the cursor is on.
constexpr const char* kClearLine = "\r\033[K";

}  // namespace

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, std::isfinite(seconds) ? seconds : 0.0));
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
  return fmt::format("{}m{:02}s", total / 60, total % 60);
}

std::string format_progress_bar(const ProgressState& s, int width) {
  const double rate = s.seconds_per_step > 0 ? 1.0 / s.seconds_per_step : 0.0;
  const double epoch_left = static_cast<double>(s.steps_per_epoch - s.step_in_epoch);
  const double run_left = static_cast<double>(s.total_steps - s.step);
  const std::string head = fmt::format("epoch {}/{} ", s.epoch, s.epochs);
  const std::string tail = fmt::format(
      " {}/{} | {:.2f} step/s | ETA {}, run {} | D {:.3f} {:.3f} | G {:.3f}", s.step_in_epoch,
      s.steps_per_epoch, rate, format_duration(epoch_left * s.seconds_per_step),
      format_duration(run_left * s.seconds_per_step), s.losses.d_a, s.losses.d_b, s.losses.g_total);
  const int room = width - static_cast<int>(head.size() + tail.size()) - 2;
  if (room < 5) {
    std::string line = head + tail.substr(1);
    if (static_cast<int>(line.size()) > width) line.resize(static_cast<size_t>(std::max(width, 0)));
    return line;
  }
  const int bar = std::min(room, 30);
  const double fraction = s.steps_per_epoch > 0
                              ? std::clamp(static_cast<double>(s.step_in_epoch) /
                                               static_cast<double>(s.steps_per_epoch),
                                           0.0, 1.0)
                              : 0.0;
  const int filled = static_cast<int>(std::floor(fraction * bar));
  std::string drawn(static_cast<size_t>(bar), ' ');
  std::fill_n(drawn.begin(), filled, '=');
  if (filled < bar && filled > 0) drawn[static_cast<size_t>(filled)] = '>';
  return head + "[" + drawn + "]" + tail;
}

StatusLineSink::StatusLineSink(std::FILE* stream) : stream_(stream) {}

void StatusLineSink::set_status(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = line;
  std::fputs(kClearLine, stream_);
  std::fputs(status_.c_str(), stream_);
  std::fflush(stream_);
}

void StatusLineSink::finish_status() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_.empty()) return;
  std::fputc('\n', stream_);
  std::fflush(stream_);
  status_.clear();
}

void StatusLineSink::sink_it_(const spdlog::details::log_msg& message) {
  spdlog::memory_buf_t formatted;
  formatter_->format(message, formatted);
  if (!status_.empty()) std::fputs(kClearLine, stream_);
  std::fwrite(formatted.data(), 1, formatted.size(), stream_);
  if (!status_.empty()) std::fputs(status_.c_str(), stream_);
  std::fflush(stream_);
}

void StatusLineSink::flush_() { std::fflush(stream_); }

int terminal_width(std::FILE* stream, int fallback) {
  winsize size{};
  if (::isatty(::fileno(stream)) && ::ioctl(::fileno(stream), TIOCGWINSZ, &size) == 0 &&
      size.ws_col > 0) {
    return size.ws_col;
  }
  return fallback;
}

}  // namespace cyclegan
