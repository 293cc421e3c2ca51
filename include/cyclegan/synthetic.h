#pragma once

#include <cstdint>
#include <filesystem>

namespace cyclegan {

/// Where and how much of the built-in apples (A) / oranges (B) dataset to draw.
struct SyntheticFruitOptions {
  std::filesystem::path root;  // receives root/trainA, root/trainB, root/testA, root/testB
  int train_per_domain = 300;
  int test_per_domain = 30;
  int image_size = 64;  // square side in pixels, >= 16
  std::uint64_t seed = 1;
};

/// Draws apples (A) and oranges (B) into the four standard folders as PNG files; returns the number
/// of images written. Same options -> byte-identical files. Throws DataError on unwritable paths
/// or bad options (message names the option/path and the expected value).
int make_fruit_dataset(const SyntheticFruitOptions& options);

}  // namespace cyclegan
