#include "cyclegan/report.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <utility>

#include "cyclegan/atomic_file.h"
#include "cyclegan/errors.h"

namespace cyclegan {

namespace fs = std::filesystem;

const char* LossLog::header() {
  return "step,epoch,d_a,d_b,g_total,g_validity,g_reconstr,g_identity,learning_rate,"
         "seconds_per_step";
}

namespace {

// Opens a CSV log for appending, writing `header` when the file is new or empty.
void open_csv_log(std::ofstream& stream, const fs::path& path, const char* header,
                  const char* what) {
  std::error_code error;
  const bool fresh = !fs::exists(path, error) || fs::file_size(path, error) == 0;
  stream.open(path, std::ios::app);
  if (!stream) throw DataError(path.string() + ": cannot open " + what + " for writing");
  if (fresh) stream << header << '\n' << std::flush;
}

}  // namespace

LossLog::LossLog(const fs::path& path) : path_(path) {
  open_csv_log(stream_, path, header(), "loss log");
}

int64_t truncate_csv_after(const fs::path& path, const char* header, int64_t last_step) {
  std::ifstream stream(path);
  if (!stream) return 0;
  const auto expected_fields = std::count(header, header + std::strlen(header), ',') + 1;
  std::string kept = std::string(header) + '\n';
  int64_t dropped = 0;
  bool first = true;
  for (std::string line; std::getline(stream, line);) {
    if (std::exchange(first, false) && line == header) continue;
    // A complete row has every field and ended with a newline (getline at EOF without one
    // leaves eof() set: the process died mid-row).
    const bool complete = !stream.eof() && std::count(line.begin(), line.end(), ',') + 1 ==
                                               static_cast<std::ptrdiff_t>(expected_fields);
    int64_t step = -1;
    if (complete) {
      try {
        step = std::stoll(line.substr(0, line.find(',')));
      } catch (const std::exception&) {
        step = -1;
      }
    }
    if (step >= 1 && step <= last_step) {
      kept += line + '\n';
    } else {
      ++dropped;
    }
  }
  std::string error;
  if (!write_file_atomically(path, kept.data(), kept.size(), &error)) {
    throw DataError(path.string() + ": cannot rewrite the log: " + error);
  }
  return dropped;
}

int64_t LossLog::truncate_after(const fs::path& path, int64_t last_step) {
  return truncate_csv_after(path, header(), last_step);
}

void LossLog::append(const LossRecord& r) {
  const StepLosses& l = r.losses;
  stream_ << r.step << ',' << r.epoch << std::setprecision(7) << ',' << l.d_a << ',' << l.d_b << ','
          << l.g_total << ',' << l.g_validity << ',' << l.g_reconstr << ',' << l.g_identity << ','
          << r.learning_rate << ',' << std::setprecision(4) << r.seconds_per_step << '\n'
          << std::flush;
  if (!stream_) throw DataError(path_.string() + ": cannot append to loss log (disk full?)");
}

const char* QualityLog::header() {
  return "step,direction,images,cycle_l1,identity_l1,paired,paired_l1,paired_psnr,paired_ssim";
}

QualityLog::QualityLog(const fs::path& path) : path_(path) {
  open_csv_log(stream_, path, header(), "the quality log");
}

void QualityLog::append(int64_t step, const std::vector<DirectionMetrics>& directions) {
  // Empty fields where a measure does not exist (no ground truth; identity across channels).
  auto field = [](double value, bool present) {
    std::ostringstream text;
    if (present && std::isfinite(value)) text << std::setprecision(7) << value;
    return text.str();
  };
  for (const DirectionMetrics& m : directions) {
    stream_ << step << ',' << m.name << ',' << m.images << ',' << field(m.cycle_l1, true) << ','
            << field(m.identity_l1, true) << ',' << m.paired << ','
            << field(m.paired_l1, m.paired > 0) << ',' << field(m.paired_psnr, m.paired > 0) << ','
            << field(m.paired_ssim, m.paired > 0) << '\n'
            << std::flush;
  }
  if (!stream_) throw DataError(path_.string() + ": cannot append to the quality log (disk full?)");
}

at::Tensor make_grid(const std::vector<std::vector<at::Tensor>>& rows) {
  TORCH_CHECK(!rows.empty() && !rows[0].empty(), "make_grid needs at least one image");
  constexpr int64_t kGutter = 2;
  auto image_at = [&](size_t r, size_t c) {
    const at::Tensor& image = rows[r][c].dim() == 4 ? rows[r][c][0] : rows[r][c];
    TORCH_CHECK(image.dim() == 3 && (image.size(0) == 3 || image.size(0) == 1),
                "make_grid: images must be [3 or 1, H, W], got ", image.sizes());
    return image;
  };
  // Every cell is as large as the largest image; smaller ones sit centred on white.
  int64_t height = 0;
  int64_t width = 0;
  size_t columns = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    columns = std::max(columns, rows[r].size());
    for (size_t c = 0; c < rows[r].size(); ++c) {
      height = std::max(height, image_at(r, c).size(1));
      width = std::max(width, image_at(r, c).size(2));
    }
  }
  const int64_t total_height = static_cast<int64_t>(rows.size()) * (height + kGutter) + kGutter;
  const int64_t total_width = static_cast<int64_t>(columns) * (width + kGutter) + kGutter;
  at::Tensor grid = torch::ones({3, total_height, total_width});  // white in [-1, 1]
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const at::Tensor image = image_at(r, c);
      const int64_t top =
          kGutter + static_cast<int64_t>(r) * (height + kGutter) + (height - image.size(1)) / 2;
      const int64_t left =
          kGutter + static_cast<int64_t>(c) * (width + kGutter) + (width - image.size(2)) / 2;
      grid.slice(1, top, top + image.size(1))
          .slice(2, left, left + image.size(2))
          .copy_(image.detach().to(torch::kCPU, torch::kFloat32));
    }
  }
  return grid;
}

}  // namespace cyclegan
