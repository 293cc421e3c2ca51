#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace cyclegan {

/// Where and how much of the built-in apples (A) / oranges (B) dataset to draw.
struct SyntheticFruitOptions {
  std::filesystem::path root;  // receives root/trainA, root/trainB, root/testA, root/testB
  int train_per_domain = 300;
  int test_per_domain = 30;
  int image_size = 64;  // square side in pixels, >= 16
  std::uint64_t seed = 1;
  /// "fruit": apples (A) and oranges (B). "grade": the same mix of fruit in both domains, B's
  /// colour-graded by colour_grade_curves(), and the correct translation of every test image in
  /// testA_gt/ and testB_gt/ under its file name (a task with a known answer, for
  /// output.eval_every and the quality benchmark); A and B training images show different fruit.
  /// "skin": apples (A) and oranges (B) whose test truths are the same scenes (background, light,
  /// placement, outline) drawn with the other fruit's skin: a domain change that keeps geometry.
  std::string task = "fruit";
};

/// The "grade" task's colour grade: a warm look (reds and greens lifted, blues deepened), one
/// monotone 8-bit gamma curve per channel (R, G, B). Like any grade it merges a few levels, so
/// the test sets' truths come from the ungraded drawings, never from undoing it.
const std::array<std::array<std::uint8_t, 256>, 3>& colour_grade_curves();

/// Draws the task's images into the four standard folders (and testA_gt/ testB_gt/ for "grade"
/// and "skin") as
/// PNG files; returns the number of images written. Same options -> byte-identical files. Throws
/// DataError on unwritable paths or bad options (message names the option/path and the expected
/// value).
int make_fruit_dataset(const SyntheticFruitOptions& options);

}  // namespace cyclegan
