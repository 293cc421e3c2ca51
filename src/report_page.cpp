// report.html (report.h): the run directory read back and laid out as one static page.
#include "cyclegan/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "cyclegan/atomic_file.h"
#include "cyclegan/errors.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxPointsPerSeries = 800;  // bucket means beyond this: a chart is ~600 px wide
constexpr size_t kMaxSampleGrids = 40;
constexpr size_t kThroughputWindow = 100;  // rows for the median seconds per step
constexpr size_t kLogTailLines = 40;
constexpr std::uintmax_t kMaxTextFileBytes = 1 << 20;  // config.yaml shown up to 1 MiB

// ---- losses.csv

// The value columns of losses.csv after step and epoch (LossLog::header()), with their colours.
struct Column {
  const char* name;
  const char* colour;
};
constexpr std::array<Column, 8> kValueColumns{{
    {"d_a", "#1f77b4"},
    {"d_b", "#d62728"},
    {"g_total", "#2ca02c"},
    {"g_validity", "#9467bd"},
    {"g_reconstr", "#ff7f0e"},
    {"g_identity", "#8c564b"},
    {"learning_rate", "#17becf"},
    {"seconds_per_step", "#6b7280"},
}};
constexpr size_t kSecondsPerStep = 7;  // index into kValueColumns

struct LossRow {
  int64_t step = 0;
  int64_t epoch = 0;
  std::array<double, kValueColumns.size()> values{};
};

struct LossTable {
  std::vector<LossRow> rows;  ///< strictly increasing steps
  size_t skipped = 0;         ///< malformed or partial lines
  bool present = false;       ///< losses.csv exists
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

bool parse_number(std::string_view text, double* value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

bool parse_number(std::string_view text, int64_t* value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

std::string read_file(const fs::path& path, std::uintmax_t max_bytes = UINTMAX_MAX) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return {};
  std::string text;
  if (max_bytes == UINTMAX_MAX) {
    text.assign(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
  } else {
    text.resize(static_cast<size_t>(max_bytes));
    stream.read(text.data(), static_cast<std::streamsize>(max_bytes));
    text.resize(static_cast<size_t>(stream.gcount()));
  }
  return text;
}

// Columns are found by their header names, so added columns do not break old reports. A row
// needs as many fields as the header and parseable numbers (nan/inf parse, and are skipped when
// drawn). LossLog ends every row with a newline, so an unterminated last line is a row cut off
// by a kill and is skipped even when it happens to parse.
LossTable read_losses(const fs::path& path) {
  LossTable table;
  std::error_code error;
  table.present = fs::is_regular_file(path, error);
  if (!table.present) return table;
  const std::string text = read_file(path);
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t newline = text.find('\n', start);
    if (newline == std::string::npos) {
      if (!trim(std::string_view(text).substr(start)).empty()) ++table.skipped;  // partial row
      break;
    }
    lines.push_back(std::string_view(text).substr(start, newline - start));
    start = newline + 1;
  }
  if (lines.empty()) return table;

  const std::vector<std::string_view> header = split_fields(lines[0]);
  auto column_of = [&](std::string_view name) -> int {
    const auto found = std::find(header.begin(), header.end(), name);
    return found == header.end() ? -1 : static_cast<int>(found - header.begin());
  };
  const int step_column = column_of("step");
  const int epoch_column = column_of("epoch");
  std::array<int, kValueColumns.size()> value_columns{};
  for (size_t i = 0; i < kValueColumns.size(); ++i) {
    value_columns[i] = column_of(kValueColumns[i].name);
  }
  for (size_t l = 1; l < lines.size(); ++l) {
    if (trim(lines[l]).empty()) continue;
    const std::vector<std::string_view> fields = split_fields(lines[l]);
    LossRow row;
    bool ok = step_column >= 0 && fields.size() == header.size() &&
              parse_number(fields[static_cast<size_t>(step_column)], &row.step);
    if (ok && epoch_column >= 0) {
      ok = parse_number(fields[static_cast<size_t>(epoch_column)], &row.epoch);
    }
    for (size_t i = 0; ok && i < kValueColumns.size(); ++i) {
      if (value_columns[i] < 0) {
        row.values[i] = std::nan("");
      } else {
        ok = parse_number(fields[static_cast<size_t>(value_columns[i])], &row.values[i]);
      }
    }
    if (!ok) {
      ++table.skipped;
      continue;
    }
    // A resumed run repeats the steps after its checkpoint: the later rows supersede them.
    while (!table.rows.empty() && table.rows.back().step >= row.step) table.rows.pop_back();
    table.rows.push_back(row);
  }
  return table;
}

// ---- text formatting

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

// Up to `digits` significant digits, no "-0".
std::string number(double value, int digits = 4) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  if (value == 0) value = 0;  // drops the sign of -0
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  return buffer;
}

std::string duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "&#8212;";
  if (seconds < 60) return format("%.1f s", seconds);
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = total / 3600;
  const int64_t minutes = total / 60 % 60;
  char buffer[64];
  if (hours > 0) {
    std::snprintf(buffer, sizeof buffer, "%lld h %02lld min", static_cast<long long>(hours),
                  static_cast<long long>(minutes));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld min %02lld s", static_cast<long long>(minutes),
                  static_cast<long long>(total % 60));
  }
  return buffer;
}

std::string utc_time(std::time_t time) {
  std::tm parts{};
  gmtime_r(&time, &parts);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return buffer;
}

// ---- SVG charts

struct Point {
  double x;
  double y;
};

// The finite (step, value) points of one column.
std::vector<Point> series_points(const std::vector<LossRow>& rows, size_t column) {
  std::vector<Point> points;
  points.reserve(rows.size());
  for (const LossRow& row : rows) {
    if (std::isfinite(row.values[column])) {
      points.push_back({static_cast<double>(row.step), row.values[column]});
    }
  }
  return points;
}

// At most `max_points`: the first and last points as they are, the rest as means of consecutive
// buckets (which also smooths the noise of per-step GAN losses).
std::vector<Point> downsample(const std::vector<Point>& points, size_t max_points) {
  if (points.size() <= max_points || max_points < 3) return points;
  std::vector<Point> out;
  out.reserve(max_points);
  out.push_back(points.front());
  const size_t inner = points.size() - 2;
  const size_t buckets = max_points - 2;
  for (size_t b = 0; b < buckets; ++b) {
    // inner > buckets, so every bucket holds at least one point.
    const size_t begin = 1 + b * inner / buckets;
    const size_t end = 1 + (b + 1) * inner / buckets;
    double x = 0;
    double y = 0;
    for (size_t i = begin; i < end; ++i) {
      x += points[i].x;
      y += points[i].y;
    }
    const auto count = static_cast<double>(end - begin);
    out.push_back({x / count, y / count});
  }
  out.push_back(points.back());
  return out;
}

// An axis from `lo` to `hi` with ticks every `step`, both ends on a tick.
struct Axis {
  double lo;
  double hi;
  double step;
};

Axis nice_axis(double min, double max, bool integer) {
  if (!(max > min)) {
    // A constant series: centre it in a small band instead of dividing by a zero range.
    const double pad = std::abs(min) > 1e-12 ? std::abs(min) * 0.1 : 1.0;
    min -= pad;
    max += pad;
  }
  const double span = max - min;
  if (!std::isfinite(span)) return {min, max, max / 4 - min / 4};
  const double raw = span / 4;  // about four intervals
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  double step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude;
  if (integer) step = std::max(step, 1.0);
  return {std::floor(min / step) * step, std::ceil(max / step) * step, step};
}

std::vector<double> ticks(const Axis& axis) {
  std::vector<double> values;
  const double intervals = std::round((axis.hi - axis.lo) / axis.step);
  const int count = std::isfinite(intervals) ? static_cast<int>(std::min(intervals, 20.0)) : 0;
  for (int i = 0; i <= count; ++i) values.push_back(axis.lo + i * axis.step);
  return values;
}

struct ChartSpec {
  const char* name;   ///< data-chart
  const char* title;  ///< heading and accessible label
  std::vector<size_t> columns;
};

const std::vector<ChartSpec>& chart_specs() {
  static const std::vector<ChartSpec> specs{
      {"discriminators", "Discriminators (d_a judges domain A, d_b domain B)", {0, 1}},
      {"generator_total", "Generator total", {2}},
      {"validity", "Generator validity (adversarial)", {3}},
      {"reconstruction", "Cycle reconstruction", {4}},
      {"identity", "Identity", {5}},
      {"learning_rate", "Learning rate", {6}},
      {"seconds_per_step", "Seconds per step (throughput)", {kSecondsPerStep}},
  };
  return specs;
}

// Geometry of every chart, in viewBox units.
constexpr double kWidth = 600;
constexpr double kHeight = 260;
constexpr double kLeft = 62;
constexpr double kRight = 14;
constexpr double kTop = 30;
constexpr double kBottom = 36;

std::string coordinate(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", value == 0 ? 0.0 : value);
  return buffer;
}

// One line of a chart.
struct Series {
  std::string name;
  const char* colour;
  std::vector<Point> points;
};

// A chart of `series` against the step; `name` is its data-chart attribute.
std::string render_series_chart(const std::string& name, const std::string& title,
                                const std::vector<Series>& series) {
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const Series& s : series) {
    for (const Point& p : s.points) {
      x_min = std::min(x_min, p.x);
      x_max = std::max(x_max, p.x);
      y_min = std::min(y_min, p.y);
      y_max = std::max(y_max, p.y);
    }
  }

  std::ostringstream out;
  out << "<figure class=\"chart\"><figcaption>" << html_escape(title) << "</figcaption>\n";
  if (!(x_min <= x_max)) {
    out << "<p class=\"empty\">no finite values</p></figure>\n";
    return out.str();
  }
  const Axis x_axis = nice_axis(x_min, x_max, true);
  const Axis y_axis = nice_axis(y_min, y_max, false);
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kHeight - kTop - kBottom;
  auto px = [&](double x) {
    return kLeft + std::clamp((x - x_axis.lo) / (x_axis.hi - x_axis.lo), 0.0, 1.0) * plot_width;
  };
  auto py = [&](double y) {
    return kTop +
           (1 - std::clamp((y - y_axis.lo) / (y_axis.hi - y_axis.lo), 0.0, 1.0)) * plot_height;
  };

  out << "<svg class=\"curve\" data-chart=\"" << name << "\" viewBox=\"0 0 " << kWidth << ' '
      << kHeight << "\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\""
      << html_escape(title) << " by step\">\n";
  out << "<g class=\"grid\">";
  for (const double y : ticks(y_axis)) {
    out << "<line x1=\"" << coordinate(kLeft) << "\" x2=\"" << coordinate(kWidth - kRight)
        << "\" y1=\"" << coordinate(py(y)) << "\" y2=\"" << coordinate(py(y)) << "\"/>";
  }
  out << "</g>\n<g class=\"axis\"><line x1=\"" << coordinate(kLeft) << "\" y1=\""
      << coordinate(kTop) << "\" x2=\"" << coordinate(kLeft) << "\" y2=\""
      << coordinate(kTop + plot_height) << "\"/><line x1=\"" << coordinate(kLeft) << "\" y1=\""
      << coordinate(kTop + plot_height) << "\" x2=\"" << coordinate(kWidth - kRight) << "\" y2=\""
      << coordinate(kTop + plot_height) << "\"/></g>\n<g class=\"ticks\">";
  for (const double y : ticks(y_axis)) {
    out << "<text x=\"" << coordinate(kLeft - 6) << "\" y=\"" << coordinate(py(y) + 4)
        << "\" text-anchor=\"end\">" << number(y, 6) << "</text>";
  }
  for (const double x : ticks(x_axis)) {
    // The rightmost label ends at the plot's edge so that long step numbers stay inside.
    const bool rightmost = px(x) > kWidth - kRight - 1;
    out << "<text x=\"" << coordinate(px(x)) << "\" y=\"" << coordinate(kTop + plot_height + 16)
        << "\" text-anchor=\"" << (rightmost ? "end" : "middle") << "\">" << number(x, 10)
        << "</text>";
  }
  out << "<text x=\"" << coordinate(kWidth - kRight) << "\" y=\"" << coordinate(kHeight - 4)
      << "\" text-anchor=\"end\">step</text></g>\n";

  for (const Series& s : series) {
    if (s.points.empty()) continue;
    out << "<polyline data-series=\"" << s.name << "\" fill=\"none\" stroke=\"" << s.colour
        << "\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"";
    for (size_t i = 0; i < s.points.size(); ++i) {
      out << (i ? " " : "") << coordinate(px(s.points[i].x)) << ','
          << coordinate(py(s.points[i].y));
    }
    out << "\"/>\n";
  }

  // Legend: a colour swatch, the name and the latest value of each series.
  out << "<g class=\"legend\">";
  double x = kLeft + 4;
  for (const Series& s : series) {
    const std::string label =
        s.name + " " +
        (s.points.empty() ? std::string("(no finite values)") : number(s.points.back().y));
    out << "<line x1=\"" << coordinate(x) << "\" y1=\"14\" x2=\"" << coordinate(x + 18)
        << "\" y2=\"14\" stroke=\"" << s.colour << "\" stroke-width=\"3\"/><text x=\""
        << coordinate(x + 23) << "\" y=\"18\">" << html_escape(label) << "</text>";
    x += 23 + 6.5 * static_cast<double>(label.size()) + 16;
  }
  out << "</g>\n</svg></figure>\n";
  return out.str();
}

std::string render_chart(const ChartSpec& spec, const std::vector<LossRow>& rows) {
  std::vector<Series> series;
  for (const size_t column : spec.columns) {
    series.push_back({kValueColumns[column].name, kValueColumns[column].colour,
                      downsample(series_points(rows, column), kMaxPointsPerSeries)});
  }
  return render_series_chart(spec.name, spec.title, series);
}

// ---- quality.csv

// Per direction (A2B, B2A), per measure (cycle_l1, paired_psnr, ...): the finite values by step.
// Rows whose step repeats (a resumed run) replace the earlier ones.
using QualityTable = std::map<std::string, std::map<std::string, std::map<int64_t, double>>>;

QualityTable read_quality(const fs::path& path) {
  QualityTable table;
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return table;
  std::istringstream text(read_file(path));
  std::string line;
  if (!std::getline(text, line)) return table;
  const std::vector<std::string_view> header = split_fields(line);
  for (std::string row; std::getline(text, row);) {
    if (text.eof()) break;  // no newline: cut off by a kill
    const std::vector<std::string_view> fields = split_fields(row);
    int64_t step = 0;
    if (fields.size() != header.size() || header.size() < 3 || header[0] != "step" ||
        header[1] != "direction" || !parse_number(fields[0], &step))
      continue;
    for (size_t i = 2; i < fields.size(); ++i) {
      double value = 0;
      if (parse_number(fields[i], &value) && std::isfinite(value))
        table[std::string(fields[1])][std::string(header[i])][step] = value;
    }
  }
  return table;
}

void render_quality(std::ostringstream& out, const fs::path& run_dir) {
  const QualityTable table = read_quality(run_dir / "quality.csv");
  if (table.empty()) return;
  out << "<section id=\"quality\"><h2>Quality on the test images</h2>\n<p class=\"meta\">"
      << "Measured every <code>output.eval_every</code> steps (quality.csv): PSNR and SSIM of each "
      << "translation against testA_gt/ or testB_gt/ where they exist, and the cycle L1 of the "
      << "test images. Leaving the image unchanged would score what <code>cyclegan test</code> "
      << "reports against the originals.</p>\n<div class=\"charts\">\n";
  struct Measure {
    const char* column;
    const char* chart;
    const char* title;
  };
  const std::vector<Measure> measures = {
      {"paired_psnr", "quality_psnr", "PSNR against the ground truth (dB)"},
      {"paired_ssim", "quality_ssim", "SSIM against the ground truth"},
      {"cycle_l1", "quality_cycle", "Cycle L1 on the test images"}};
  const std::map<std::string, const char*> colours = {{"A2B", "#1f77b4"}, {"B2A", "#d62728"}};
  for (const Measure& measure : measures) {
    std::vector<Series> series;
    for (const auto& [direction, columns] : table) {
      const auto found = columns.find(measure.column);
      if (found == columns.end()) continue;
      Series line{direction, colours.count(direction) ? colours.at(direction) : "#6b7280", {}};
      for (const auto& [step, value] : found->second)
        line.points.push_back({static_cast<double>(step), value});
      series.push_back(std::move(line));
    }
    if (!series.empty()) out << render_series_chart(measure.chart, measure.title, series);
  }
  out << "</div>\n</section>\n";
}

// ---- samples and checkpoints

// The number in NAME when NAME is PREFIX + digits + SUFFIX.
bool parse_numbered_name(const std::string& name, std::string_view prefix, std::string_view suffix,
                         int64_t* number) {
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  const std::string_view digits =
      std::string_view(name).substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return parse_number(digits, number);
}

struct NumberedFile {
  int64_t step;
  std::string name;
};

// Files in `folder` named PREFIX<digits>SUFFIX, by step.
std::vector<NumberedFile> numbered_files(const fs::path& folder, std::string_view prefix,
                                         std::string_view suffix) {
  std::vector<NumberedFile> files;
  std::error_code error;
  if (!fs::is_directory(folder, error)) return files;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    if (!entry.is_regular_file(error)) continue;
    const std::string name = entry.path().filename().string();
    int64_t step = 0;
    if (parse_numbered_name(name, prefix, suffix, &step)) files.push_back({step, name});
  }
  std::sort(files.begin(), files.end(), [](const NumberedFile& a, const NumberedFile& b) {
    return a.step != b.step ? a.step < b.step : a.name < b.name;
  });
  return files;
}

// `count` evenly spaced elements, always the first and the last.
std::vector<NumberedFile> evenly_spaced(const std::vector<NumberedFile>& files, size_t count) {
  if (files.size() <= count || count < 2) return files;
  std::vector<NumberedFile> chosen;
  for (size_t i = 0; i < count; ++i) {
    // (files.size() - 1) / (count - 1) > 1, so the rounded indices are distinct.
    const auto index = static_cast<size_t>(
        std::llround(static_cast<double>(i) * static_cast<double>(files.size() - 1) /
                     static_cast<double>(count - 1)));
    chosen.push_back(files[index]);
  }
  return chosen;
}

// Width and height from a PNG's IHDR chunk; false when the file is not a readable PNG.
bool png_size(const fs::path& path, uint32_t* width, uint32_t* height) {
  std::ifstream stream(path, std::ios::binary);
  unsigned char bytes[24];
  if (!stream.read(reinterpret_cast<char*>(bytes), sizeof bytes)) return false;
  static const unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!std::equal(kSignature, kSignature + 8, bytes) ||
      std::string_view(reinterpret_cast<char*>(bytes + 12), 4) != "IHDR") {
    return false;
  }
  auto be32 = [&](int at) {
    return uint32_t{bytes[at]} << 24 | uint32_t{bytes[at + 1]} << 16 |
           uint32_t{bytes[at + 2]} << 8 | uint32_t{bytes[at + 3]};
  };
  *width = be32(16);
  *height = be32(20);
  return *width > 0 && *height > 0;
}

std::string sample_image(const fs::path& run_dir, const NumberedFile& file) {
  const std::string src = "samples/" + file.name;
  std::ostringstream out;
  out << "<img class=\"sample\" src=\"" << html_escape(src) << "\" alt=\"sample grid at step "
      << file.step << "\"";
  uint32_t width = 0;
  uint32_t height = 0;
  if (png_size(run_dir / "samples" / file.name, &width, &height)) {
    out << " width=\"" << width << "\" height=\"" << height << "\"";
    // Small grids (the smoke runs' 32-pixel images) are scaled up: keep their pixels sharp.
    if (width < 600) out << " data-pixelated=\"1\"";
  }
  out << " onload=\"markImage(this, true)\" onerror=\"markImage(this, false)\">";
  return out.str();
}

struct FileInfo {
  std::uintmax_t bytes = 0;
  std::time_t modified = 0;
};

bool file_info(const fs::path& path, FileInfo* info) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return false;
  info->bytes = static_cast<std::uintmax_t>(status.st_size);
  info->modified = status.st_mtime;
  return true;
}

// The last `count` lines of a text file, reading at most its last 64 KiB.
std::string tail_lines(const fs::path& path, size_t count) {
  std::ifstream stream(path, std::ios::binary | std::ios::ate);
  if (!stream) return {};
  const std::streamoff size = stream.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - 65536);
  stream.seekg(start);
  std::string text(static_cast<size_t>(size - start), '\0');
  stream.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(stream.gcount()));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t begin = text.size();
  for (size_t lines = 0; begin > 0; --begin) {
    if (text[begin - 1] == '\n' && ++lines == count) break;
  }
  return text.substr(begin);
}

// ---- the page

const char* const kStyle = R"(
:root { --fg: #1d2330; --muted: #5b6473; --line: #e3e6eb; --bg: #f6f7f9; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.meta { color: var(--muted); margin: 0 0 8px; }
nav a { margin-right: 14px; color: #2457c5; text-decoration: none; }
code { font-size: .9em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; }
.card, .chart, .timeline figure, pre, table { background: var(--card); border: 1px solid var(--line);
       border-radius: 8px; }
.card { padding: 10px 14px; }
.card .label { color: var(--muted); font-size: .8rem; }
.card .value { font-size: 1.3rem; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.chart { margin: 0; padding: 8px 12px; }
.chart figcaption { font-weight: 600; font-size: .95rem; }
svg.curve { display: block; width: 100%; height: auto; }
svg.curve text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.curve .grid line { stroke: #eef0f3; }
svg.curve .axis line { stroke: #9aa3af; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: .85rem; text-align: center; }
.latest { margin-bottom: 20px; }
.latest img { display: block; width: min(100%, 900px); height: auto; margin: 0 auto; }
.timeline { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
.timeline figure { padding: 6px; }
.timeline img { display: block; width: 100%; height: auto; }
img[data-pixelated] { image-rendering: pixelated; }
.broken-note { display: block; color: #b42318; font-size: .85rem; text-align: center; }
pre { padding: 12px; overflow: auto; font-size: 13px; }
table { border-collapse: separate; border-spacing: 0; overflow: hidden; }
th, td { padding: 5px 14px; border-bottom: 1px solid var(--line); text-align: left; }
th { background: #f0f2f5; font-weight: 600; }
tr:last-child td { border-bottom: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); font-style: italic; }
footer { max-width: 1240px; margin: 40px auto 24px; padding: 0 24px; color: var(--muted); font-size: .8rem; }
)";

// Marks each sample grid loaded or broken (a visible note for broken ones), so a reader and a
// headless-browser test can tell which images really rendered. Defined before any <img>.
const char* const kScript = R"(
function markImage(img, ok) {
  img.dataset.state = ok ? "loaded" : "broken";
  if (!ok && !(img.nextElementSibling && img.nextElementSibling.className === "broken-note")) {
    const note = document.createElement("span");
    note.className = "broken-note";
    note.textContent = "could not load " + img.getAttribute("src");
    img.after(note);
  }
}
)";

std::string run_name(const fs::path& run_dir) {
  std::error_code error;
  fs::path path = fs::absolute(run_dir, error).lexically_normal();
  if (error) path = run_dir.lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  const std::string name = path.filename().string();
  return name.empty() ? path.string() : name;
}

void card(std::ostringstream& out, const std::string& label, const std::string& value) {
  out << "<div class=\"card\"><div class=\"label\">" << label << "</div><div class=\"value\">"
      << value << "</div></div>\n";
}

void render_summary(std::ostringstream& out, const LossTable& losses) {
  out << "<section id=\"summary\"><h2>Summary</h2>\n";
  if (losses.rows.empty()) {
    out << "<p class=\"empty\">no data yet"
        << (losses.present ? " (losses.csv has no complete rows)" : " (no losses.csv)") << "</p>\n";
  } else {
    const LossRow& last = losses.rows.back();
    std::vector<double> recent;
    const size_t from =
        losses.rows.size() > kThroughputWindow ? losses.rows.size() - kThroughputWindow : 0;
    for (size_t i = from; i < losses.rows.size(); ++i) {
      const double seconds = losses.rows[i].values[kSecondsPerStep];
      if (std::isfinite(seconds) && seconds >= 0) recent.push_back(seconds);
    }
    double total = 0;
    for (const LossRow& row : losses.rows) {
      const double seconds = row.values[kSecondsPerStep];
      if (std::isfinite(seconds) && seconds >= 0) total += seconds;
    }
    double median = NAN;
    if (!recent.empty()) {
      std::sort(recent.begin(), recent.end());
      const size_t half = recent.size() / 2;
      median = recent.size() % 2 ? recent[half] : (recent[half - 1] + recent[half]) / 2;
    }
    out << "<div class=\"cards\">\n";
    card(out, "steps done", std::to_string(last.step));
    card(out, "epoch", std::to_string(last.epoch));
    card(out,
         "median s/step (last " + std::to_string(std::min(kThroughputWindow, losses.rows.size())) +
             " steps)",
         std::isfinite(median) ? number(median, 3) + " s" : "&#8212;");
    card(out, "steps/s", median > 0 ? number(1 / median, 3) : "&#8212;");
    card(out, "training time (sum of s/step)", duration(total));
    out << "</div>\n<h3>Latest values (step " << last.step << ")</h3>\n"
        << "<table class=\"latest-values\"><tr><th>term</th><th>value</th></tr>\n";
    for (size_t i = 0; i < kValueColumns.size(); ++i) {
      out << "<tr><td>" << kValueColumns[i].name << "</td><td class=\"num\">"
          << number(last.values[i], 5) << "</td></tr>\n";
    }
    out << "</table>\n";
  }
  if (losses.skipped > 0) {
    out << "<p class=\"meta\">" << losses.skipped
        << " malformed or partial line(s) of losses.csv skipped</p>\n";
  }
  out << "</section>\n";
}

void render_curves(std::ostringstream& out, const LossTable& losses) {
  out << "<section id=\"curves\"><h2>Loss curves</h2>\n";
  if (losses.rows.size() < 2) {
    out << "<p class=\"empty\">no data yet</p>\n</section>\n";
    return;
  }
  out << "<div class=\"charts\">\n";
  for (const ChartSpec& spec : chart_specs()) out << render_chart(spec, losses.rows);
  out << "</div>\n";
  if (losses.rows.size() > kMaxPointsPerSeries) {
    out << "<p class=\"meta\">" << losses.rows.size() << " steps drawn as " << kMaxPointsPerSeries
        << " points per series (means of consecutive steps; first and last as they are)</p>\n";
  }
  out << "</section>\n";
}

void render_samples(std::ostringstream& out, const fs::path& run_dir) {
  out << "<section id=\"samples\"><h2>Sample grids</h2>\n";
  const std::vector<NumberedFile> all = numbered_files(run_dir / "samples", "step_", ".png");
  if (all.empty()) {
    out << "<p class=\"empty\">no sample grids yet</p>\n</section>\n";
    return;
  }
  out << "<p class=\"meta\">Rows: A &#8594; B &#8594; A and B &#8594; A &#8594; B; columns: "
         "original, translated, reconstructed, identity.</p>\n";
  out << "<figure class=\"latest\">" << sample_image(run_dir, all.back()) << "<figcaption>step "
      << all.back().step << " (newest)</figcaption></figure>\n";
  const std::vector<NumberedFile> shown = evenly_spaced(all, kMaxSampleGrids);
  if (shown.size() < all.size()) {
    out << "<p class=\"meta\">" << shown.size() << " of " << all.size()
        << " grids, evenly spaced</p>\n";
  }
  out << "<div class=\"timeline\">\n";
  for (const NumberedFile& file : shown) {
    out << "<figure>" << sample_image(run_dir, file) << "<figcaption>step " << file.step
        << "</figcaption></figure>\n";
  }
  out << "</div>\n</section>\n";
}

void render_config(std::ostringstream& out, const fs::path& run_dir) {
  out << "<section id=\"config\"><h2>Configuration</h2>\n";
  std::error_code error;
  if (!fs::is_regular_file(run_dir / "config.yaml", error)) {
    out << "<p class=\"empty\">no config.yaml</p>\n";
  } else {
    out << "<pre class=\"config\">"
        << html_escape(read_file(run_dir / "config.yaml", kMaxTextFileBytes)) << "</pre>\n";
  }
  out << "</section>\n";
}

void render_checkpoints(std::ostringstream& out, const fs::path& run_dir) {
  out << "<section id=\"checkpoints\"><h2>Checkpoints</h2>\n";
  struct Entry {
    std::string name;
    std::string step;
    FileInfo info;
  };
  std::vector<Entry> entries;
  for (const NumberedFile& file : numbered_files(run_dir / "checkpoints", "step_", ".pt")) {
    FileInfo info;
    if (file_info(run_dir / "checkpoints" / file.name, &info)) {
      entries.push_back({"checkpoints/" + file.name, std::to_string(file.step), info});
    }
  }
  for (const char* name : {"g_AB.pt", "g_BA.pt", "d_A.pt", "d_B.pt", "state.pt"}) {
    FileInfo info;
    if (file_info(run_dir / name, &info)) entries.push_back({name, "", info});
  }
  if (entries.empty()) {
    out << "<p class=\"empty\">no checkpoints yet</p>\n</section>\n";
    return;
  }
  out << "<table class=\"checkpoints\"><tr><th>file</th><th>step</th><th>size (MiB)</th>"
         "<th>modified</th></tr>\n";
  for (const Entry& entry : entries) {
    out << "<tr><td><code>" << html_escape(entry.name) << "</code>"
        << (entry.info.bytes == 0 ? " <span class=\"empty\">(empty)</span>" : "")
        << "</td><td class=\"num\">" << entry.step << "</td><td class=\"num\" title=\""
        << entry.info.bytes << " bytes\">"
        << format("%.2f", static_cast<double>(entry.info.bytes) / (1024.0 * 1024.0)) << "</td><td>"
        << utc_time(entry.info.modified) << "</td></tr>\n";
  }
  out << "</table>\n</section>\n";
}

void render_log(std::ostringstream& out, const fs::path& run_dir) {
  std::error_code error;
  if (!fs::is_regular_file(run_dir / "train.log", error)) return;
  out << "<section id=\"log\"><h2>Log</h2>\n<details><summary>last " << kLogTailLines
      << " lines of train.log</summary>\n<pre class=\"log\">"
      << html_escape(tail_lines(run_dir / "train.log", kLogTailLines))
      << "</pre></details>\n</section>\n";
}

void require_directory(const fs::path& run_dir) {
  std::error_code error;
  if (!fs::is_directory(run_dir, error)) {
    throw DataError(run_dir.string() +
                    ": not a directory (expected a training run directory "
                    "with losses.csv, samples/, config.yaml)");
  }
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\0':
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_html_report(const fs::path& run_dir) {
  require_directory(run_dir);
  const LossTable losses = read_losses(run_dir / "losses.csv");
  const std::string name = html_escape(run_name(run_dir));
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>" << name << " &#8212; CycleGAN training report</title>\n"
      << "<style>" << kStyle << "</style>\n<script>" << kScript << "</script>\n</head>\n<body>\n";
  out << "<header>\n<h1>CycleGAN training report: " << name << "</h1>\n<p class=\"meta\">";
  if (losses.rows.empty()) {
    out << "no steps recorded yet";
  } else {
    out << "step " << losses.rows.back().step << ", epoch " << losses.rows.back().epoch;
  }
  std::error_code error;
  std::error_code quality_error;
  const fs::path absolute = fs::absolute(run_dir, error);
  out << " &#183; generated " << utc_time(std::time(nullptr)) << " &#183; <code>"
      << html_escape((error ? run_dir : absolute).string()) << "</code></p>\n"
      << "<nav><a href=\"#summary\">Summary</a><a href=\"#curves\">Loss curves</a>"
      << (fs::exists(run_dir / "quality.csv", quality_error) ? "<a href=\"#quality\">Quality</a>"
                                                             : "")
      << "<a href=\"#samples\">Samples</a><a href=\"#config\">Configuration</a>"
      << "<a href=\"#checkpoints\">Checkpoints</a></nav>\n</header>\n<main>\n";
  render_summary(out, losses);
  render_curves(out, losses);
  render_quality(out, run_dir);
  render_samples(out, run_dir);
  render_config(out, run_dir);
  render_checkpoints(out, run_dir);
  render_log(out, run_dir);
  out << "</main>\n<footer>Written by <code>cyclegan report</code>; a static page (no network, no "
         "server). Regenerate it to update.</footer>\n</body>\n</html>\n";
  return out.str();
}

fs::path write_html_report(const fs::path& run_dir) {
  require_directory(run_dir);
  const std::string page = render_html_report(run_dir);
  const fs::path path = run_dir / "report.html";
  std::string error;
  if (!write_file_atomically(path, page.data(), page.size(), &error)) {
    throw DataError(path.string() + ": cannot write the report: " + error);
  }
  return path;
}

}  // namespace cyclegan
