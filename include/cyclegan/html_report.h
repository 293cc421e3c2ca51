#pragma once

// The training report: one static HTML page per run directory that opens from disk with no
// server and no network. Standard library only, so it builds without LibTorch or OpenCV.

#include <filesystem>
#include <string>
#include <string_view>

namespace cyclegan {

/// `text` with &, <, >, " and ' replaced by HTML entities.
std::string html_escape(std::string_view text);

/// The report page for a run directory (config.yaml, losses.csv, samples/, checkpoints/, network
/// files) as HTML5 text: header, throughput summary, loss curves as inline SVG, sample grids
/// (relative links into samples/), the configuration and the checkpoint list. Missing or
/// malformed inputs are shown as such, never fatal. Throws DataError when `run_dir` is not a
/// directory.
std::string render_html_report(const std::filesystem::path& run_dir);

/// Writes the page to run_dir/report.html atomically and returns that path. Throws DataError
/// naming the directory when `run_dir` is not a directory, or naming the file when it cannot be
/// written.
std::filesystem::path write_html_report(const std::filesystem::path& run_dir);

}  // namespace cyclegan
