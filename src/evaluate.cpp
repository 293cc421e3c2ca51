#include "cyclegan/evaluate.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "cyclegan/atomic_file.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/config.h"
#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "cyclegan/networks.h"
#include "cyclegan/report.h"
#include "cyclegan/runtime.h"
#include "cyclegan/translate.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// [C, H, W] or [N, C, H, W] in [-1, 1] -> [N, C, H, W] float64 in [0, 1].
at::Tensor unit_range(const at::Tensor& image) {
  const at::Tensor batched = image.dim() == 3 ? image.unsqueeze(0) : image;
  return ((batched.detach().to(torch::kCPU, torch::kFloat64) + 1) / 2).clamp(0, 1);
}

// Both as [N, C, H, W] in [0, 1]; a [C, H, W] image counts as a batch of one.
std::pair<at::Tensor, at::Tensor> unit_range_pair(const at::Tensor& a_in, const at::Tensor& b_in) {
  at::Tensor a = unit_range(a_in);
  at::Tensor b = unit_range(b_in);
  TORCH_CHECK(a.sizes() == b.sizes(), "image metrics need equal shapes, got ", a.sizes(), " and ",
              b.sizes());
  return {a, b};
}

// A normalised 2-D Gaussian [C, 1, size, size] for a depthwise convolution.
at::Tensor gaussian_window(int64_t size, double sigma, int64_t channels) {
  const at::Tensor x = torch::arange(size, torch::kFloat64) - static_cast<double>(size - 1) / 2.0;
  const at::Tensor g = torch::exp(-(x * x) / (2 * sigma * sigma));
  const at::Tensor window = torch::outer(g, g);
  return (window / window.sum()).expand({channels, 1, size, size}).contiguous();
}

std::string format_metric(double value) {
  if (std::isinf(value)) return "inf";
  if (std::isnan(value)) return "n/a";  // identity, when the domains' channels differ
  return fmt::format("{:.4f}", value);
}

// `image` [C, H, W] as the official save_images writes it at `aspect_ratio`: wider by the ratio
// when above 1, taller by its inverse when below (bicubic, as PIL's resize there).
at::Tensor with_aspect_ratio(const at::Tensor& image, double aspect_ratio) {
  if (aspect_ratio == 1.0) return image;
  const int64_t height = image.size(1);
  const int64_t width = image.size(2);
  const std::vector<int64_t> size =
      aspect_ratio > 1.0
          ? std::vector<int64_t>{height,
                                 static_cast<int64_t>(static_cast<double>(width) * aspect_ratio)}
          : std::vector<int64_t>{static_cast<int64_t>(static_cast<double>(height) / aspect_ratio),
                                 width};
  namespace F = torch::nn::functional;
  return F::interpolate(
             image.unsqueeze(0).to(torch::kCPU),
             F::InterpolateFuncOptions().size(size).mode(torch::kBicubic).align_corners(false))[0]
      .clamp(-1, 1);
}

// The file in `folder` with the stem of `file`, if any: the paired ground truth.
fs::path ground_truth_for(const fs::path& folder, const fs::path& file) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) return {};
  if (fs::is_regular_file(folder / file.filename(), error)) return folder / file.filename();
  for (const fs::path& candidate : list_images(folder)) {
    if (candidate.stem() == file.stem()) return candidate;
  }
  return {};
}

struct ImageRow {
  std::string name;
  fs::path real, fake, reconstructed, identity, truth;  // relative to the output folder
  double cycle_l1 = 0, identity_l1 = 0, paired_l1 = 0, paired_psnr = 0, paired_ssim = 0;
  bool paired = false;
};

// A CSV field: quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void write_text(const fs::path& path, const std::string& text) {
  std::string error;
  if (!write_file_atomically(path, text.data(), text.size(), &error)) {
    throw DataError(path.string() + ": " + error);
  }
}

}  // namespace

double mean_absolute_difference(const at::Tensor& a_in, const at::Tensor& b_in) {
  const auto [a, b] = unit_range_pair(a_in, b_in);
  return (a - b).abs().mean().item<double>();
}

double psnr(const at::Tensor& a_in, const at::Tensor& b_in) {
  const auto [a, b] = unit_range_pair(a_in, b_in);
  const double mse = (a - b).pow(2).mean().item<double>();
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(1.0 / mse);
}

double ssim(const at::Tensor& a_in, const at::Tensor& b_in) {
  const auto [a, b] = unit_range_pair(a_in, b_in);
  const int64_t channels = a.size(1);
  const int64_t size = std::min<int64_t>({11, a.size(2), a.size(3)});
  const at::Tensor window = gaussian_window(size, 1.5, channels);
  auto filter = [&](const at::Tensor& x) {
    const std::vector<int64_t> ones = {1, 1};
    const std::vector<int64_t> no_padding = {0, 0};  // valid window positions only
    return torch::conv2d(x, window, /*bias=*/at::Tensor(), ones, no_padding, ones, channels);
  };
  constexpr double kC1 = 0.01 * 0.01;
  constexpr double kC2 = 0.03 * 0.03;
  const at::Tensor mu_a = filter(a);
  const at::Tensor mu_b = filter(b);
  const at::Tensor var_a = filter(a * a) - mu_a * mu_a;
  const at::Tensor var_b = filter(b * b) - mu_b * mu_b;
  const at::Tensor covariance = filter(a * b) - mu_a * mu_b;
  const at::Tensor map = ((2 * mu_a * mu_b + kC1) * (2 * covariance + kC2)) /
                         ((mu_a * mu_a + mu_b * mu_b + kC1) * (var_a + var_b + kC2));
  return map.mean().item<double>();
}

std::vector<DirectionMetrics> measure_directions(
    const MeasuredGenerator& g_ab, const MeasuredGenerator& g_ba, const MeasureOptions& options,
    const std::function<void(const std::string& direction, const MeasuredImage&)>& each_image,
    std::vector<std::string>* failed) {
  struct Direction {
    std::string name, source;
    const MeasuredGenerator& forward;
    const MeasuredGenerator& backward;
  };
  const std::string a = options.swap_domains ? "B" : "A";
  const std::string b = options.swap_domains ? "A" : "B";
  const std::vector<Direction> directions = {{"A2B", a, g_ab, g_ba}, {"B2A", b, g_ba, g_ab}};
  const torch::Device device = g_ab.generator->parameters().front().device();
  std::vector<DirectionMetrics> measured;
  torch::InferenceMode inference;
  for (const Direction& direction : directions) {
    const fs::path folder = options.data_root / ("test" + direction.source);
    std::vector<fs::path> files;
    try {
      files = list_images(folder);
    } catch (const DataError& e) {
      spdlog::warn("{}: skipped ({})", direction.name, e.what());
      continue;
    }
    if (options.num_test > 0 && static_cast<int64_t>(files.size()) > options.num_test)
      files.resize(static_cast<size_t>(options.num_test));
    const fs::path truth_folder = options.data_root / ("test" + direction.source + "_gt");
    auto read = [&](const fs::path& file, int64_t channels) {
      return options.resize > 0 ? load_image_resized(file, options.resize, channels)
                                : read_image(file, kMaxImagePixels, channels);
    };
    DirectionMetrics metrics;
    metrics.name = direction.name;
    for (const fs::path& file : files) {
      MeasuredImage image;
      image.file = file;
      try {
        image.real = read(file, direction.forward.in_channels).unsqueeze(0).to(device);
      } catch (const DataError& e) {
        spdlog::error("skipped: {}", e.what());
        if (failed != nullptr) failed->push_back(e.what());
        continue;
      }
      const int64_t forward_multiple = direction.forward.size_multiple;
      const int64_t backward_multiple = direction.backward.size_multiple;
      image.fake = translate_any_size(*direction.forward.generator, image.real, forward_multiple);
      image.reconstructed =
          translate_any_size(*direction.backward.generator, image.fake, backward_multiple);
      // Identity feeds the backward generator this domain's images: only when both domains have
      // the same channels.
      const bool has_identity = direction.backward.in_channels == direction.forward.in_channels;
      if (has_identity) {
        image.identity =
            translate_any_size(*direction.backward.generator, image.real, backward_multiple);
      }
      image.cycle_l1 = mean_absolute_difference(image.reconstructed, image.real);
      image.identity_l1 = has_identity ? mean_absolute_difference(image.identity, image.real)
                                       : std::numeric_limits<double>::quiet_NaN();
      metrics.cycle_l1 += image.cycle_l1;
      metrics.identity_l1 += image.identity_l1;
      ++metrics.images;

      const fs::path truth_file = ground_truth_for(truth_folder, file);
      if (!truth_file.empty()) {
        try {
          const at::Tensor truth = read(truth_file, direction.forward.out_channels);
          if (truth.sizes() != image.fake[0].sizes()) {
            throw DataError(fmt::format("{}: ground truth is {}x{}, the translation {}x{}",
                                        truth_file.string(), truth.size(2), truth.size(1),
                                        image.fake.size(3), image.fake.size(2)));
          }
          image.truth = truth.unsqueeze(0);
          const at::Tensor translated = image.fake.cpu();
          image.paired = true;
          image.paired_l1 = mean_absolute_difference(translated, image.truth);
          image.paired_psnr = psnr(translated, image.truth);
          image.paired_ssim = ssim(translated, image.truth);
          ++metrics.paired;
          metrics.paired_l1 += image.paired_l1;
          metrics.paired_psnr += image.paired_psnr;
          metrics.paired_ssim += image.paired_ssim;
        } catch (const DataError& e) {
          spdlog::warn("ground truth skipped: {}", e.what());
        }
      }
      if (each_image) each_image(direction.name, image);
    }
    if (metrics.images > 0) {
      metrics.cycle_l1 /= static_cast<double>(metrics.images);
      metrics.identity_l1 /= static_cast<double>(metrics.images);
    }
    if (metrics.paired > 0) {
      metrics.paired_l1 /= static_cast<double>(metrics.paired);
      metrics.paired_psnr /= static_cast<double>(metrics.paired);
      metrics.paired_ssim /= static_cast<double>(metrics.paired);
    }
    measured.push_back(metrics);
  }
  return measured;
}

Evaluation evaluate_run(const EvaluateOptions& options) {
  const fs::path run_dir = options.run_dir;
  MeasureOptions measure;
  measure.data_root = options.data_root;
  measure.resize = options.resize;
  measure.num_test = options.num_test;
  if (measure.data_root.empty()) {
    const TrainConfig run_config = load_train_config(run_dir / "config.yaml");
    measure.data_root = run_config.data_root;
    measure.swap_domains = run_config.direction == "BtoA";
  } else if (std::error_code error; fs::exists(run_dir / "config.yaml", error)) {
    try {
      measure.swap_domains = load_train_config(run_dir / "config.yaml").direction == "BtoA";
    } catch (const ConfigError& e) {
      spdlog::warn("{}; taking testA/ as domain A", e.what());
    }
  }
  const fs::path data_root = measure.data_root;
  const LoadedGenerator g_ab = load_generator(run_dir / "g_AB.pt");
  const LoadedGenerator g_ba = load_generator(run_dir / "g_BA.pt");
  const torch::Device device = resolve_device(options.device);
  auto measured = [&](const LoadedGenerator& loaded) {
    loaded.generator->to(device);
    loaded.generator->eval();
    return MeasuredGenerator{loaded.generator.get(), loaded.info.in_channels,
                             loaded.info.out_channels,
                             generator_size_multiple(loaded.info.architecture)};
  };
  Evaluation evaluation;
  evaluation.output_dir = options.output_dir.empty()
                              ? run_dir / fmt::format("test_step_{}", g_ab.info.step)
                              : options.output_dir;
  std::map<std::string, std::vector<ImageRow>> rows;
  evaluation.directions = measure_directions(
      measured(g_ab), measured(g_ba), measure,
      [&](const std::string& direction, const MeasuredImage& image) {
        ImageRow row;
        row.name = image.file.filename().string();
        const std::string stem = image.file.stem().string();
        const fs::path folder(direction);
        fs::create_directories(evaluation.output_dir / folder);
        auto write = [&](const std::string& suffix, const at::Tensor& tensor) {
          if (!tensor.defined()) return fs::path();
          const fs::path name = folder / (stem + suffix);
          write_image(evaluation.output_dir / name,
                      with_aspect_ratio(tensor[0].cpu(), options.aspect_ratio));
          return name;
        };
        row.real = write("_real.png", image.real);
        row.fake = write("_fake.png", image.fake);
        row.reconstructed = write("_rec.png", image.reconstructed);
        row.identity = write("_idt.png", image.identity);
        row.truth = write("_truth.png", image.truth);
        row.cycle_l1 = image.cycle_l1;
        row.identity_l1 = image.identity_l1;
        row.paired = image.paired;
        row.paired_l1 = image.paired_l1;
        row.paired_psnr = image.paired_psnr;
        row.paired_ssim = image.paired_ssim;
        rows[direction].push_back(std::move(row));
      },
      &evaluation.failed);
  if (evaluation.directions.empty()) {
    throw DataError(data_root.string() + ": neither testA/ nor testB/ holds an image to evaluate");
  }

  // metrics.csv (one line per direction), images.csv (one per image), index.html.
  std::ostringstream summary;
  summary << "direction,images,cycle_l1,identity_l1,paired,paired_l1,paired_psnr,paired_ssim\n";
  for (const DirectionMetrics& m : evaluation.directions) {
    summary << m.name << ',' << m.images << ',' << format_metric(m.cycle_l1) << ','
            << format_metric(m.identity_l1) << ',' << m.paired << ','
            << (m.paired ? format_metric(m.paired_l1) : "") << ','
            << (m.paired ? format_metric(m.paired_psnr) : "") << ','
            << (m.paired ? format_metric(m.paired_ssim) : "") << '\n';
  }
  write_text(evaluation.output_dir / "metrics.csv", summary.str());
  std::ostringstream per_image;
  per_image << "direction,file,cycle_l1,identity_l1,paired_l1,paired_psnr,paired_ssim\n";
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cyclegan test "
       << html_escape(run_dir.filename().string()) << "</title><style>"
       << "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
       << "td,th{border:1px solid #ccc;padding:4px;text-align:center}img{max-width:192px}"
       << "</style></head><body>\n<h1>Test translations: " << html_escape(run_dir.string())
       << "</h1>\n<p>Generators at step " << g_ab.info.step << ". L1 on the [0, 1] scale; "
       << "PSNR (dB) and SSIM against testX_gt/ where present.</p>\n<table>\n<tr><th>direction"
       << "</th><th>images</th><th>cycle L1</th><th>identity L1</th><th>paired</th>"
       << "<th>L1 vs truth</th><th>PSNR</th><th>SSIM</th></tr>\n";
  for (const DirectionMetrics& m : evaluation.directions) {
    html << "<tr><td>" << m.name << "</td><td>" << m.images << "</td><td>"
         << format_metric(m.cycle_l1) << "</td><td>" << format_metric(m.identity_l1) << "</td><td>"
         << m.paired << "</td><td>" << (m.paired ? format_metric(m.paired_l1) : "-") << "</td><td>"
         << (m.paired ? format_metric(m.paired_psnr) : "-") << "</td><td>"
         << (m.paired ? format_metric(m.paired_ssim) : "-") << "</td></tr>\n";
  }
  html << "</table>\n";
  for (const auto& [name, direction_rows] : rows) {
    html << "<h2>" << name << "</h2>\n<table class=\"images\" data-direction=\"" << name
         << "\">\n<tr><th>file</th><th>original</th><th>translated</th><th>reconstructed</th>"
         << "<th>identity</th><th>ground truth</th><th>cycle L1</th><th>identity L1</th>"
         << "<th>PSNR</th><th>SSIM</th></tr>\n";
    for (const ImageRow& row : direction_rows) {
      auto image = [&](const fs::path& path) {
        return path.empty() ? std::string("-")
                            : "<img src=\"" + html_escape(path.generic_string()) + "\" alt=\"\">";
      };
      html << "<tr><td>" << html_escape(row.name) << "</td><td>" << image(row.real) << "</td><td>"
           << image(row.fake) << "</td><td>" << image(row.reconstructed) << "</td><td>"
           << image(row.identity) << "</td><td>" << image(row.truth) << "</td><td>"
           << format_metric(row.cycle_l1) << "</td><td>" << format_metric(row.identity_l1)
           << "</td><td>" << (row.paired ? format_metric(row.paired_psnr) : "-") << "</td><td>"
           << (row.paired ? format_metric(row.paired_ssim) : "-") << "</td></tr>\n";
      per_image << name << ',' << csv_field(row.name) << ',' << format_metric(row.cycle_l1) << ','
                << format_metric(row.identity_l1) << ','
                << (row.paired ? format_metric(row.paired_l1) : "") << ','
                << (row.paired ? format_metric(row.paired_psnr) : "") << ','
                << (row.paired ? format_metric(row.paired_ssim) : "") << '\n';
    }
    html << "</table>\n";
  }
  html << "</body></html>\n";
  write_text(evaluation.output_dir / "images.csv", per_image.str());
  evaluation.index = evaluation.output_dir / "index.html";
  write_text(evaluation.index, html.str());
  return evaluation;
}

}  // namespace cyclegan
