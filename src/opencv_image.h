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

/// HWC uint8 RGB -> [3, H, W] float in [-1, 1] (owns its memory).
at::Tensor rgb8_to_tensor(const cv::Mat& rgb);

}  // namespace cyclegan::detail
