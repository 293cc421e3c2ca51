#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

namespace cyclegan {

/// True for the image extensions we read (jpg, jpeg, png, bmp, tif, tiff, webp; any case).
bool is_image_file(const std::filesystem::path& path);

/// The image files directly inside `folder`, sorted by name. Throws DataError if the folder is
/// missing or holds no image file.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

/// Decodes an image as RGB (grayscale and alpha are converted): [3, H, W] float in [-1, 1].
/// Throws DataError naming the file when it cannot be decoded.
at::Tensor read_image(const std::filesystem::path& path);

/// How [-1, 1] floats become 8-bit levels.
enum class Quantization {
  kRound,     ///< nearest level (our default: unbiased)
  kTruncate,  ///< (x + 1) / 2 * 255 truncated, as the official `tensor2im` does
};

/// Writes [3, H, W] (or [1, 3, H, W]) values in [-1, 1] as an 8-bit image; the format follows
/// the extension. Written to a temporary name and renamed, so a failure never leaves a partial
/// file under `path`. Throws DataError naming the file on failure.
void write_image(const std::filesystem::path& path, const at::Tensor& image,
                 Quantization quantization = Quantization::kRound);

/// [3, H, W] in [-1, 1] -> HWC uint8 RGB bytes.
std::vector<unsigned char> to_rgb8(const at::Tensor& image,
                                   Quantization quantization = Quantization::kRound);

}  // namespace cyclegan
