#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cyclegan/losses.h"

namespace cyclegan {

/// One row of losses.csv.
struct LossRecord {
  int64_t step = 0;   ///< 1-based global step
  int64_t epoch = 0;  ///< 1-based epoch
  StepLosses losses;
  double learning_rate = 0;
  double seconds_per_step = 0;
};

/// Appends rows to losses.csv (header written once), flushed per row so a crash loses nothing.
class LossLog {
 public:
  explicit LossLog(const std::filesystem::path& path);
  void append(const LossRecord& record);

  static const char* header();

  /// Rewrites `path` (atomically) keeping the header and the complete rows of steps up to
  /// `last_step`: a resumed run then appends exactly the rows a run that never stopped would
  /// have. Rows after the checkpoint and a half-written last line (a killed process) go.
  /// Returns the number of rows dropped; a missing file is left missing.
  static int64_t truncate_after(const std::filesystem::path& path, int64_t last_step);

 private:
  std::filesystem::path path_;
  std::ofstream stream_;
};

/// Lays out images as a grid: rows[r][c] is [3, H, W] (or [1, 3, H, W]) in [-1, 1], all the same
/// size; a white 2-pixel gutter separates cells. Returns [3, H_total, W_total].
at::Tensor make_grid(const std::vector<std::vector<at::Tensor>>& rows);

}  // namespace cyclegan
