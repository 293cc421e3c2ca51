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

/// Translates one large image [1, C, H, W] tile by tile: square tiles of side `tile` (a multiple
/// of `multiple`) overlapping by `overlap` pixels, blended with weights that fall off linearly
/// across each overlap, so memory follows the tile, not the image. InstanceNorm statistics come
/// from one pass over the whole image, downscaled so its longer side is at most
/// `statistics_side` (0: full size), and are shared by every tile, so tiles match each other.
at::Tensor translate_tiled(GeneratorModule& generator, const at::Tensor& image, int64_t tile,
                           int64_t overlap, int64_t multiple, int64_t statistics_side = 0);

/// Rough peak bytes of one inference pass of `info`'s generator on an H x W image (activations
/// of the widest full-resolution layers plus their working buffers), used to decide on tiling.
int64_t estimate_inference_bytes(const NetworkInfo& info, int64_t height, int64_t width);

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
  int64_t tile = 0;              ///< > 0: always tile with this side; 0: tile only when needed
  int64_t tile_overlap = 64;     ///< pixels shared by neighbouring tiles
  int64_t max_memory_mb = 4096;  ///< images whose estimate exceeds this are tiled
  /// LibTorch's direct convolutions everywhere (outputs match PyTorch's to 1e-5); false lets a
  /// ResNet's 3x3 convolutions take the Winograd kernels, faster and within ~1e-5 of them.
  bool exact = true;
};

/// Translates images with one generator file; outputs are PNGs named after the inputs.
class Translator {
 public:
  explicit Translator(const TranslateOptions& options);

  /// Translates `files`, writing each result atomically; returns the written paths in order.
  /// Inputs that cannot be decoded are reported (logged by name), skipped and listed in
  /// failed(); nothing is written for them.
  std::vector<std::filesystem::path> translate(const std::vector<std::filesystem::path>& files);

  /// Inputs of the last translate() call that could not be read, with the reason.
  const std::vector<std::string>& failed() const { return failed_; }

  const NetworkInfo& info() const { return info_; }

 private:
  TranslateOptions options_;
  NetworkInfo info_;
  GeneratorPtr generator_;
  torch::Device device_;
  std::vector<std::string> failed_;

  at::Tensor run(const at::Tensor& batch);  // [N, C, H, W] -> translated, tiled if needed
};

}  // namespace cyclegan
