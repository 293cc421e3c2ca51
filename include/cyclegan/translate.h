#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cyclegan/checkpoint.h"
#include "cyclegan/image_io.h"

namespace cyclegan {

/// Runs `generator` on [N, C, H, W] of any H, W: pads by reflection (edge replication where the
/// image is too small to reflect) up to multiples of `multiple`, then crops back to H x W.
at::Tensor translate_any_size(GeneratorModule& generator, const at::Tensor& images,
                              int64_t multiple);

/// Image files named by `inputs`: files as given, folders' image files (sorted, not recursive).
/// Throws DataError naming a path that does not exist or a folder without images.
std::vector<std::filesystem::path> collect_image_inputs(
    const std::vector<std::filesystem::path>& inputs);

struct TranslateOptions {
  std::filesystem::path checkpoint;
  GeneratorOverrides overrides;  ///< for PyTorch .pth files whose layout is not inferred
  std::filesystem::path output_dir = "translated";
  std::string device = "auto";
  int64_t resize = 0;      ///< > 0: resize inputs to resize x resize instead of padding
  int64_t batch_size = 4;  ///< same-size images translated together
  Quantization quantization = Quantization::kRound;
};

/// Translates images with one generator file; outputs are PNGs named after the inputs.
class Translator {
 public:
  explicit Translator(const TranslateOptions& options);

  /// Translates `files`, writing each result atomically; returns the written paths in order.
  std::vector<std::filesystem::path> translate(const std::vector<std::filesystem::path>& files);

  const NetworkInfo& info() const { return info_; }

 private:
  TranslateOptions options_;
  NetworkInfo info_;
  GeneratorPtr generator_;
  torch::Device device_;
};

}  // namespace cyclegan
