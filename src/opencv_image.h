#pragma once

// OpenCV <-> tensor helpers shared by image_io.cpp and data.cpp (kept out of public headers).

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cyclegan::detail {

/// Reads a whole file; throws DataError naming it (missing, a folder, no permission, empty).
std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path);

/// Decodes an encoded image to an 8-bit 3-channel RGB matrix (see decode_image() for the
/// rules); throws DataError starting with `name`.
cv::Mat decode_rgb8(const unsigned char* data, size_t size, const std::string& name,
                    int64_t max_pixels);

/// Reads and decodes `path`.
cv::Mat decode_rgb8(const std::filesystem::path& path, int64_t max_pixels);

/// HWC uint8 with 1 or 3 channels -> [C, H, W] float in [-1, 1] (owns its memory).
at::Tensor levels8_to_tensor(const cv::Mat& levels);

/// 8-bit RGB as is for `channels` 3; for 1 its luma as PIL's convert('L') computes it (the
/// official Grayscale transform): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
cv::Mat rgb8_with_channels(const cv::Mat& rgb, int64_t channels);

}  // namespace cyclegan::detail
