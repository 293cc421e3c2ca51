#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cyclegan {

/// True for the image extensions we read (jpg, jpeg, png, bmp, tif, tiff, webp; any case).
bool is_image_file(const std::filesystem::path& path);

/// The image files directly inside `folder`, sorted by name (symbolic links are followed;
/// entries that cannot be examined, such as a link loop, are skipped with a warning). Throws
/// DataError if the folder is missing, cannot be read, or holds no image file (the message
/// counts the other files found).
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

/// Images above this many pixels are not decoded at full size: 64 megapixels, about 200 MB as
/// 8-bit RGB (twice that for 16-bit). JPEGs beyond it are decoded at 1/2, 1/4 or 1/8 scale
/// (libjpeg scales while decoding, without the full-size buffer); other formats are refused.
constexpr int64_t kMaxImagePixels = int64_t{64} << 20;

/// Decodes an encoded image (JPEG, PNG, BMP, TIFF or WebP) as RGB: [3, H, W] float in [-1, 1].
/// Grayscale is replicated, alpha dropped (as PIL's convert('RGB') in the official pipeline),
/// palettes expanded, CMYK converted, 16-bit scaled to 8 bits, and a JPEG's EXIF orientation
/// applied. The size is read from the header first, so a crafted or huge header cannot make it
/// allocate more than `max_pixels` allow. Throws DataError starting with `name` on empty,
/// truncated, unknown or undecodable data.
at::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                        int64_t max_pixels = kMaxImagePixels);

/// Reads and decodes a file (see decode_image()). Throws DataError naming the file when it is
/// missing, a folder, unreadable (permissions), empty or not a decodable image. `channels` 1
/// gives its luma, [1, H, W], as the official Grayscale transform (PIL's convert('L')).
at::Tensor read_image(const std::filesystem::path& path, int64_t max_pixels = kMaxImagePixels,
                      int64_t channels = 3);

/// How [-1, 1] floats become 8-bit levels.
enum class Quantization {
  kRound,     ///< nearest level (our default: unbiased)
  kTruncate,  ///< (x + 1) / 2 * 255 truncated, as the official `tensor2im` does
};

/// Writes [3, H, W] (or [1, 3, H, W]; one channel is written as gray RGB, as the official
/// tensor2im tiles it) values in [-1, 1] as an 8-bit image; the format follows
/// the extension. Written to a temporary name and renamed, so a failure never leaves a partial
/// file under `path`. Throws DataError naming the file on failure.
void write_image(const std::filesystem::path& path, const at::Tensor& image,
                 Quantization quantization = Quantization::kRound);

/// [3, H, W] (or [1, H, W], tiled) in [-1, 1] -> HWC uint8 RGB bytes.
std::vector<unsigned char> to_rgb8(const at::Tensor& image,
                                   Quantization quantization = Quantization::kRound);

}  // namespace cyclegan
