#include "cyclegan/translate.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "cyclegan/trainer.h"

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
  const int64_t pad_bottom = round_up(height, multiple) - height;
  const int64_t pad_right = round_up(width, multiple) - width;
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
  generator_ = loaded.generator;
  generator_->to(device_);
  generator_->eval();
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
  const int64_t multiple = generator_size_multiple(info_.architecture);
  std::vector<fs::path> written;
  const auto batch_size = static_cast<size_t>(std::max<int64_t>(1, options_.batch_size));
  for (size_t begin = 0; begin < files.size(); begin += batch_size) {
    const size_t end = std::min(files.size(), begin + batch_size);
    // Group the chunk by size: only same-size images can share a forward pass.
    std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> by_size;
    std::vector<at::Tensor> images(end - begin);
    for (size_t i = begin; i < end; ++i) {
      images[i - begin] = options_.resize > 0 ? load_image_resized(files[i], options_.resize)
                                              : read_image(files[i]);
      by_size[{images[i - begin].size(1), images[i - begin].size(2)}].push_back(i);
    }
    for (const auto& [size, indices] : by_size) {
      std::vector<at::Tensor> group;
      for (size_t i : indices) group.push_back(images[i - begin]);
      const at::Tensor result =
          translate_any_size(*generator_, torch::stack(group).to(device_), multiple)
              .to(torch::kCPU);
      for (size_t k = 0; k < indices.size(); ++k) {
        write_image(outputs[indices[k]], result[static_cast<int64_t>(k)], options_.quantization);
      }
    }
    for (size_t i = begin; i < end; ++i) written.push_back(outputs[i]);
  }
  return written;
}

}  // namespace cyclegan
