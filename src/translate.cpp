#include "cyclegan/translate.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <set>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "cyclegan/runtime.h"
#include "kernels/kernels.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

at::Tensor translate_any_size(GeneratorModule& generator, const at::Tensor& images,
                              int64_t multiple) {
  const int64_t height = images.size(2);
  const int64_t width = images.size(3);
  // The ResNet reflect-pads its 1/4-size features by 1, which needs at least 2 pixels there.
  const int64_t min_side = std::max<int64_t>(multiple, 8);
  const int64_t pad_bottom = std::max(round_up(height, multiple), min_side) - height;
  const int64_t pad_right = std::max(round_up(width, multiple), min_side) - width;
  at::Tensor padded = images;
  if (pad_bottom > 0 || pad_right > 0) {
    // Reflection needs the padding to be smaller than the side; tiny images replicate edges.
    const bool reflect = pad_bottom < height && pad_right < width;
    auto options = torch::nn::functional::PadFuncOptions({0, pad_right, 0, pad_bottom});
    if (reflect) {
      options.mode(torch::kReflect);
    } else {
      options.mode(torch::kReplicate);
    }
    padded = torch::nn::functional::pad(images, options);
  }
  at::Tensor output = generator.forward(padded);  // [N, C_out, H_pad, W_pad]
  return output.slice(2, 0, height).slice(3, 0, width);
}

at::Tensor translate_tiled(GeneratorModule& generator, const at::Tensor& image, int64_t tile,
                           int64_t overlap, int64_t multiple, int64_t statistics_side) {
  TORCH_CHECK(image.dim() == 4 && image.size(0) == 1, "translate_tiled expects [1, C, H, W]");
  tile = std::max(multiple, tile / multiple * multiple);
  overlap = std::clamp<int64_t>(overlap, 0, tile / 2);
  const int64_t height = image.size(2);
  const int64_t width = image.size(3);
  // Tile origins along one axis: stride tile - overlap, the last tile flush with the far edge.
  auto origins = [&](int64_t extent) {
    std::vector<int64_t> starts;
    if (extent <= tile) return std::vector<int64_t>{0};
    for (int64_t start = 0; start + tile < extent; start += tile - overlap) starts.push_back(start);
    starts.push_back(extent - tile);
    return starts;
  };
  // Weight 1 inside, falling linearly to ~0 across the overlap; every pixel keeps a weight > 0.
  auto ramp = [&](int64_t side) {
    at::Tensor position = torch::arange(side, torch::kFloat32) + 0.5f;
    if (overlap == 0) return torch::ones({side});
    return torch::minimum(torch::ones({side}),
                          torch::minimum(position, side - position) / static_cast<float>(overlap));
  };
  // Pass 1: InstanceNorm statistics of the whole picture, from an overview no larger than one
  // tile. Normalising each tile by its own statistics shifts colours from tile to tile; shared
  // statistics make the tiles agree. (Pooling per-tile statistics instead was measured worse:
  // deeper layers then see inputs normalised differently from the replay.)
  auto statistics = std::make_shared<NormStatistics>();
  statistics->mode = NormStatistics::Mode::kRecord;
  share_norm_statistics(generator, statistics);
  struct Restore {
    GeneratorModule& generator;
    ~Restore() { share_norm_statistics(generator, nullptr); }
  } restore{generator};
  at::Tensor overview = image;
  const int64_t longer = std::max(height, width);
  if (statistics_side > 0 && longer > statistics_side) {
    const double scale = static_cast<double>(statistics_side) / static_cast<double>(longer);
    const std::vector<int64_t> size = {std::max<int64_t>(1, std::lround(height * scale)),
                                       std::max<int64_t>(1, std::lround(width * scale))};
    overview = torch::nn::functional::interpolate(
        image, torch::nn::functional::InterpolateFuncOptions().size(size).mode(torch::kArea));
  }
  translate_any_size(generator, overview, multiple);
  statistics->mode = NormStatistics::Mode::kReplay;

  at::Tensor output;
  at::Tensor weight_sum = torch::zeros({1, 1, height, width}, image.options());
  for (int64_t top : origins(height)) {
    for (int64_t left : origins(width)) {
      const int64_t bottom = std::min(height, top + tile);
      const int64_t right = std::min(width, left + tile);
      const at::Tensor piece = image.slice(2, top, bottom).slice(3, left, right);
      statistics->cursor = 0;
      const at::Tensor translated = translate_any_size(generator, piece, multiple);
      if (!output.defined()) {
        output = torch::zeros({1, translated.size(1), height, width}, translated.options());
      }
      const at::Tensor weight =
          (ramp(bottom - top).view({-1, 1}) * ramp(right - left).view({1, -1}))
              .to(image.device())
              .view({1, 1, bottom - top, right - left});
      output.slice(2, top, bottom).slice(3, left, right).add_(translated * weight);
      weight_sum.slice(2, top, bottom).slice(3, left, right).add_(weight);
    }
  }
  return output / weight_sum;
}

int64_t estimate_inference_bytes(const NetworkInfo& info, int64_t height, int64_t width) {
  const int64_t multiple = generator_size_multiple(info.architecture);
  const int64_t pixels = round_up(height, multiple) * round_up(width, multiple);
  // The widest full-resolution tensors have ngf channels; the peak holds about four of them
  // (padded copy, conv output, the transposed conv's column buffer): resnet_9blocks at ngf 64
  // peaked at 1.2 GB resident for a 1000x1000 image. Five leaves some headroom.
  constexpr int64_t kLiveTensors = 5;
  return pixels * std::max<int64_t>(info.filters, 3) * kLiveTensors *
         static_cast<int64_t>(sizeof(float));
}

std::vector<fs::path> collect_image_inputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const fs::path& input : inputs) {
    std::error_code error;
    if (fs::is_directory(input, error)) {
      const auto found = list_images(input);
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, error)) {
      files.push_back(input);
    } else {
      throw DataError(input.string() + ": no such file or folder");
    }
  }
  return files;
}

Translator::Translator(const TranslateOptions& options)
    : options_(options), device_(resolve_device(options.device)) {
  LoadedGenerator loaded = load_generator(options_.checkpoint, options_.overrides);
  if (!loaded.note.empty()) {
    spdlog::info("{} ({}): {}", options_.checkpoint.string(), loaded.source_format, loaded.note);
  }
  info_ = loaded.info;
  if (info_.in_channels != 1 && info_.in_channels != 3) {
    throw CheckpointError(options_.checkpoint.string() + ": the generator takes " +
                          std::to_string(info_.in_channels) +
                          "-channel images; images are read with 1 (gray) or 3 (RGB) channels");
  }
  generator_ = loaded.generator;
  generator_->to(device_);
  generator_->eval();
}

at::Tensor Translator::run(const at::Tensor& batch) {
  const int64_t multiple = generator_size_multiple(info_.architecture);
  const int64_t budget = options_.max_memory_mb * 1024 * 1024;
  const bool tile =
      options_.tile > 0 ||
      estimate_inference_bytes(info_, batch.size(2), batch.size(3)) * batch.size(0) > budget;
  if (!tile) return translate_any_size(*generator_, batch, multiple);
  int64_t side = options_.tile;
  if (side <= 0) {
    // The largest tile whose estimate fits the budget.
    side = std::max(multiple, int64_t{2048} / multiple * multiple);
    while (side > multiple && estimate_inference_bytes(info_, side, side) > budget)
      side -= multiple;
  }
  std::vector<at::Tensor> outputs;
  for (int64_t i = 0; i < batch.size(0); ++i) {
    // The statistics pass sees the whole image at the largest size the budget allows.
    outputs.push_back(translate_tiled(*generator_, batch.slice(0, i, i + 1), side,
                                      options_.tile_overlap, multiple, side));
  }
  return torch::cat(outputs, 0);
}

std::vector<fs::path> Translator::translate(const std::vector<fs::path>& files) {
  std::error_code error;
  fs::create_directories(options_.output_dir, error);
  if (error) {
    throw DataError(options_.output_dir.string() +
                    ": cannot create output folder: " + error.message());
  }
  // Output names follow input stems; inputs from different folders may share one.
  std::vector<fs::path> outputs;
  std::set<std::string> used;
  for (const fs::path& file : files) {
    std::string stem = file.stem().string();
    std::string name = stem + ".png";
    for (int suffix = 1; used.count(name) > 0; ++suffix) {
      name = stem + "_" + std::to_string(suffix) + ".png";
    }
    used.insert(name);
    outputs.push_back(options_.output_dir / name);
  }

  torch::InferenceMode inference;
  kernels::Policy policy = kernels::policy();
  policy.winograd_for_inference = !options_.exact;
  const kernels::PolicyGuard kernel_policy(policy);
  failed_.clear();
  std::vector<fs::path> written;
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  const auto batch_size = static_cast<size_t>(std::max<int64_t>(1, options_.batch_size));
  for (size_t begin = 0; begin < files.size(); begin += batch_size) {
    const size_t end = std::min(files.size(), begin + batch_size);
    // Group the chunk by size: only same-size images can share a forward pass.
    std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> by_size;
    std::vector<at::Tensor> images(end - begin);
    for (size_t i = begin; i < end; ++i) {
      try {
        // A one-channel generator reads luma, as the official Grayscale transform.
        const int64_t channels = info_.in_channels;
        images[i - begin] = options_.resize > 0
                                ? load_image_resized(files[i], options_.resize, channels)
                                : read_image(files[i], kMaxImagePixels, channels);
      } catch (const DataError& e) {
        spdlog::error("skipped: {}", e.what());
        failed_.push_back(e.what());
        continue;
      }
      by_size[{images[i - begin].size(1), images[i - begin].size(2)}].push_back(i);
    }
    for (const auto& [size, indices] : by_size) {
      std::vector<at::Tensor> group;
      for (size_t i : indices) group.push_back(images[i - begin]);
      const at::Tensor result = run(torch::stack(group).to(device_)).to(torch::kCPU);
      for (size_t k = 0; k < indices.size(); ++k) {
        write_image(outputs[indices[k]], result[static_cast<int64_t>(k)], options_.quantization);
        written.push_back(outputs[indices[k]]);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (end == files.size() || now - last_report > std::chrono::seconds(5)) {
      const double seconds = std::chrono::duration<double>(now - started).count();
      spdlog::info("translated {}/{} images ({:.3g} images/s){}", end, files.size(),
                   static_cast<double>(end) / std::max(seconds, 1e-9),
                   failed_.empty() ? "" : fmt::format(", {} failed", failed_.size()));
      last_report = now;
    }
  }
  return written;
}

}  // namespace cyclegan
