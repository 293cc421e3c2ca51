#pragma once

// What a training run reports: losses.csv, sample grids, and report.html, the page built from
// them and the rest of the run directory.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "cyclegan/evaluate.h"
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

/// Rewrites the CSV log at `path` (atomically) keeping `header` and the complete rows (every field,
/// newline-terminated) whose first field, the step, is in [1, last_step]. Returns the number of
/// rows dropped; a missing file is left missing.
int64_t truncate_csv_after(const std::filesystem::path& path, const char* header,
                           int64_t last_step);

/// Appends the quality measures of training (output.eval_every) to quality.csv, one row per
/// direction, flushed per row.
class QualityLog {
 public:
  explicit QualityLog(const std::filesystem::path& path);
  void append(int64_t step, const std::vector<DirectionMetrics>& directions);

  static const char* header();

 private:
  std::filesystem::path path_;
  std::ofstream stream_;
};

/// Lays out images as a grid: rows[r][c] is [3, H, W] (or [1, 3, H, W]; one channel shows as gray)
/// in [-1, 1]. Cells take the largest image's size, smaller images centred in theirs; a white
/// 2-pixel gutter separates cells. Returns [3, H_total, W_total].
at::Tensor make_grid(const std::vector<std::vector<at::Tensor>>& rows);

/// `text` with &, <, >, " and ' replaced by HTML entities.
std::string html_escape(std::string_view text);

/// The report page for a run directory (config.yaml, losses.csv, samples/, checkpoints/, network
/// files) as HTML5 text: header, throughput summary, loss curves as inline SVG, sample grids
/// (relative links into samples/), the configuration and the checkpoint list: one static page that
/// opens from disk with no server and no network. Missing or malformed inputs are shown as such,
/// never fatal. Throws DataError when `run_dir` is not a directory.
std::string render_html_report(const std::filesystem::path& run_dir);

/// Writes the page to run_dir/report.html atomically and returns that path. Throws DataError
/// naming the directory when `run_dir` is not a directory, or naming the file when it cannot be
/// written.
std::filesystem::path write_html_report(const std::filesystem::path& run_dir);

}  // namespace cyclegan
