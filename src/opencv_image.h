#pragma once

// OpenCV <-> tensor helpers shared by image_io.cpp and data.cpp (kept out of public headers).

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <filesystem>

namespace cyclegan::detail {

/// Decodes `path` to an 8-bit 3-channel RGB matrix; throws DataError naming the file.
cv::Mat decode_rgb8(const std::filesystem::path& path);

/// HWC uint8 RGB -> [3, H, W] float in [-1, 1] (owns its memory).
at::Tensor rgb8_to_tensor(const cv::Mat& rgb);

}  // namespace cyclegan::detail
