// Every kind of image file and folder a user can hand the tool: each either decodes correctly
// (orientation, colour, size) or fails with a DataError that names the file and the problem.
// The fixtures in tests/data/images come from tests/data/images/make_fixtures.py: a 12x8 picture,
// red left half, blue right half, white top-left pixel.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& name) {
  return testing::source_dir() / "tests/data/images" / name;
}

// The DataError message reading `path` gives ("" when it decodes).
std::string read_error(const fs::path& path, int64_t max_pixels = kMaxImagePixels) {
  try {
    read_image(path, max_pixels);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// Values in [-1, 1] at (x, y) of [3, H, W].
std::vector<float> pixel(const at::Tensor& image, int64_t x, int64_t y) {
  return {image[0][y][x].item<float>(), image[1][y][x].item<float>(), image[2][y][x].item<float>()};
}

void expect_red_blue_pattern(const at::Tensor& image, const std::string& name, bool colour) {
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{3, 8, 12})) << name;
  const auto top_left = pixel(image, 0, 0);
  const auto left = pixel(image, 2, 5);
  const auto right = pixel(image, 9, 5);
  // White sums to 3; JPEG blurs a lone pixel, but red or blue would sum below 0.
  EXPECT_GT(top_left[0] + top_left[1] + top_left[2], 1.5) << name << ": top-left should be white";
  if (colour) {
    EXPECT_GT(left[0], left[2] + 0.5) << name << ": left half should be red";
    EXPECT_GT(right[2], right[0] + 0.5) << name << ": right half should be blue";
  } else {
    // Grayscale: channels equal; the red half is lighter than the blue half.
    EXPECT_FLOAT_EQ(left[0], left[2]) << name;
    EXPECT_GT(left[0], right[0]) << name;
  }
}

TEST(BadImages, EveryFormatVariantDecodesUpright) {
  for (const auto& [name, colour] :
       std::vector<std::pair<std::string, bool>>{{"rgb.png", true},
                                                 {"rgba.png", true},
                                                 {"gray.png", false},
                                                 {"gray_alpha.png", false},
                                                 {"palette.png", true},
                                                 {"gray16.png", false},
                                                 {"rgb.jpg", true},
                                                 {"gray.jpg", false},
                                                 {"cmyk.jpg", true},
                                                 {"exif_rotated.jpg", true}}) {
    SCOPED_TRACE(name);
    at::Tensor image;
    ASSERT_NO_THROW(image = read_image(fixture(name)));
    expect_red_blue_pattern(image, name, colour);
    std::cout << "  " << name << ": decoded " << image.size(2) << "x" << image.size(1) << "\n";
  }
}

TEST(BadImages, SixteenBitAndOnePixelImages) {
  const at::Tensor rgb16 = read_image(fixture("rgb16.png"));
  ASSERT_EQ(rgb16.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(pixel(rgb16, 0, 0), (std::vector<float>{1, -1, -1}));
  EXPECT_EQ(pixel(rgb16, 1, 0), (std::vector<float>{-1, -1, 1}));
  const at::Tensor one = read_image(fixture("one_pixel.png"));
  EXPECT_EQ(one.sizes(), (std::vector<int64_t>{3, 1, 1}));
  // Training resizes it like any other image.
  const at::Tensor crop = load_training_image(fixture("one_pixel.png"), {36, 32, true}, 1);
  EXPECT_EQ(crop.sizes(), (std::vector<int64_t>{3, 32, 32}));
}

TEST(BadImages, BrokenFilesAreNamedWithTheReason) {
  testing::TempDir dir;
  std::ofstream(dir / "empty.jpg").close();
  std::ofstream(dir / "notes.jpg") << "this is a text file, not a JPEG\n";
  fs::create_directories(dir / "folder.png");
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {dir / "empty.jpg", "file is empty (0 bytes)"},
      {dir / "notes.jpg", "not an image"},
      {fixture("truncated_rgb.png"), "truncated PNG"},
      {fixture("truncated_rgb.jpg"), "truncated JPEG"},
      {dir / "folder.png", "is a folder, not an image"},
      {dir / "missing.png", "no such file"},
      {fixture("huge_header.png"),
       "20000x20000 pixels (381.5 megapixels) is above the 64.0 "
       "megapixels decoding limit"},
  };
  for (const auto& [path, expected] : cases) {
    const std::string message = read_error(path);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    std::cout << "  " << path.filename().string() << ": " << message << "\n";
  }
}

TEST(BadImages, HugeJpegsAreDecodedAtAReducedScaleOtherFormatsRefused) {
  // The limit is a parameter: a 12x8 picture stands in for a 20000x20000 one.
  const at::Tensor reduced = read_image(fixture("rgb.jpg"), /*max_pixels=*/30);
  EXPECT_EQ(reduced.sizes(), (std::vector<int64_t>{3, 4, 6}));  // 1/2 scale: 24 pixels
  EXPECT_NE(read_error(fixture("rgb.png"), 30).find("above the"), std::string::npos);
}

// Headers the image fuzzer once found (fuzz/regressions/fuzz_image): each one made a decoder
// allocate gigabytes or overflowed a size computation. Each must now be refused from its header,
// or (where the header walk now finds a small frame) decode to no more than the limit.
TEST(BadImages, FuzzerFoundHeadersAreRefusedBeforeDecoding) {
  const fs::path folder = testing::source_dir() / "fuzz/regressions/fuzz_image";
  const std::string over_limit = "is above the 64.0 megapixels decoding limit";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"png_ihdr_size_overflow.png", "4294967295x4282991950 pixels"},
      {"tiff_16bit_30000x30000.tif", "30000x30000 pixels (858.3 megapixels) " + over_limit},
      {"jpeg_progressive_65000x65000.jpg", "65000x65000 pixels (4029.3 megapixels) " + over_limit},
      {"jpeg_stray_byte_hides_sof.jpg", "16000x16000 pixels (244.1 megapixels) " + over_limit},
      {"jpeg_exif_hides_sof_oom.jpg", "cannot find the image size in the header"},
  };
  for (const auto& [name, expected] : refused) {
    const std::string message = read_error(folder / name);
    EXPECT_NE(message.find(name), std::string::npos) << name << " gave: '" << message << "'";
    EXPECT_NE(message.find(expected), std::string::npos) << name << " gave: " << message;
    std::cout << "  " << name << ": " << message << "\n";
  }
  // A zero-length APP0 segment once hid the frame header; read as libjpeg reads it, it is small.
  const at::Tensor small = read_image(folder / "jpeg_zero_length_app0_hides_sof.jpg");
  EXPECT_LE(small.size(1) * small.size(2), kMaxImagePixels);
}

TEST(BadImages, UnreadableFileSaysPermissionDenied) {
  testing::TempDir dir;
  fs::copy_file(fixture("rgb.png"), dir / "locked.png");
  ::chmod((dir / "locked.png").c_str(), 0);
  ::chmod(dir.path().c_str(), 0755);
  // Root reads anything: check as an unprivileged user in a child process.
  const pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && setuid(65534) != 0) _exit(3);
    const std::string message = read_error(dir / "locked.png");
    _exit(message.find("cannot open file: Permission denied") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong message, 3: could not drop privileges";
}

TEST(BadFolders, MissingEmptyAndImagelessFoldersAreNamed) {
  testing::TempDir dir;
  fs::create_directories(dir / "empty");
  fs::create_directories(dir / "documents");
  std::ofstream(dir / "documents/readme.txt") << "x";
  std::ofstream(dir / "documents/data.csv") << "x";
  auto message = [](const fs::path& folder) {
    try {
      list_images(folder);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message(dir / "nowhere").find("image folder not found"), std::string::npos);
  EXPECT_NE(message(dir / "empty").find("no image files (the folder is empty)"), std::string::npos);
  EXPECT_NE(message(dir / "documents").find("no image files among its 2 files"), std::string::npos)
      << message(dir / "documents");
}

TEST(BadFolders, SymlinkLoopsAreSkippedAndOddNamesWork) {
  testing::TempDir dir;
  fs::create_directories(dir / "images");
  fs::create_symlink("loop_b.png", dir / "images/loop_a.png");
  fs::create_symlink("loop_a.png", dir / "images/loop_b.png");
  const fs::path odd = dir / "images/pommes rôties – été.png";
  fs::copy_file(fixture("rgb.png"), odd);
  const auto images = list_images(dir / "images");
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0], odd);
  expect_red_blue_pattern(read_image(odd), odd.string(), true);
}

TEST(BadFolders, TrainingSkipsUndecodableFilesAndRefusesAFolderWithNone) {
  testing::TempDir dir;
  for (const char* domain : {"trainA", "trainB"}) fs::create_directories(dir / domain);
  fs::copy_file(fixture("rgb.png"), dir / "trainA/a1.png");
  fs::copy_file(fixture("exif_rotated.jpg"), dir / "trainA/a2.jpg");
  std::ofstream(dir / "trainA/a3.jpg").close();  // zero bytes
  fs::copy_file(fixture("truncated_rgb.jpg"), dir / "trainA/a4.jpg");
  fs::copy_file(fixture("cmyk.jpg"), dir / "trainB/b1.jpg");
  UnpairedLoaderOptions options;
  options.root = dir.path();
  options.transform = {16, 16, false};
  options.workers = 2;
  {
    UnpairedLoader loader(options);
    for (int step = 0; step < 8; ++step) {
      const UnpairedBatch batch = loader.next();
      EXPECT_TRUE(torch::isfinite(batch.real_a).all().item<bool>());
    }
    const auto skipped = loader.skipped();
    ASSERT_EQ(skipped.size(), 2u);
    EXPECT_NE(skipped[0].find("a3.jpg: file is empty"), std::string::npos) << skipped[0];
    EXPECT_NE(skipped[1].find("a4.jpg: truncated JPEG"), std::string::npos) << skipped[1];
  }
  fs::remove(dir / "trainA/a1.png");
  fs::remove(dir / "trainA/a2.jpg");
  UnpairedLoader hopeless(options);
  try {
    hopeless.next();
    FAIL() << "trained on a folder without a usable image";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("trainA: none of its 2 image files can be decoded"),
              std::string::npos)
        << e.what();
  }
}

TEST(BadFolders, SkippingKeepsBatchesDeterministic) {
  testing::TempDir dir;
  for (const char* domain : {"trainA", "trainB"}) fs::create_directories(dir / domain);
  for (int i = 0; i < 4; ++i) {
    fs::copy_file(fixture("rgb.png"), dir / ("trainA/a" + std::to_string(i) + ".png"));
    fs::copy_file(fixture("palette.png"), dir / ("trainB/b" + std::to_string(i) + ".png"));
  }
  std::ofstream(dir / "trainA/a_bad.png") << "garbage";
  UnpairedLoaderOptions options;
  options.root = dir.path();
  options.transform = {16, 12, true};
  options.seed = 5;
  auto batches = [&](int64_t workers) {
    options.workers = workers;
    UnpairedLoader loader(options);
    std::vector<at::Tensor> out;
    for (int step = 0; step < 10; ++step) out.push_back(loader.next().real_a);
    return out;
  };
  const auto one = batches(1);
  const auto three = batches(3);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(torch::equal(one[i], three[i])) << i;
}

}  // namespace
}  // namespace cyclegan
