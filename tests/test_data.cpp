#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

// Writes a gradient image with `channels` channels and `depth` (CV_8U or CV_16U).
void write_test_image(const fs::path& path, int width, int height, int channels,
                      int depth = CV_8U) {
  cv::Mat image(height, width, CV_MAKETYPE(depth, channels));
  const double scale = depth == CV_16U ? 257.0 : 1.0;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const double value = (x * 255.0 / width + c * 60 + y);
        const double clipped = std::min(255.0, value) * scale;
        if (depth == CV_16U) {
          image.ptr<uint16_t>(y)[x * channels + c] = static_cast<uint16_t>(clipped);
        } else {
          image.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>(clipped);
        }
      }
    }
  }
  ASSERT_TRUE(cv::imwrite(path.string(), image)) << path;
}

class Data : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "trainA");
    fs::create_directories(dir_ / "trainB");
    // Mixed formats, sizes, channel counts and extension cases.
    write_test_image(dir_ / "trainA/rgb.png", 40, 30, 3);
    write_test_image(dir_ / "trainA/gray.JPG", 64, 64, 1);
    write_test_image(dir_ / "trainA/rgba.png", 33, 50, 4);
    write_test_image(dir_ / "trainA/deep.png", 48, 48, 3, CV_16U);
    write_test_image(dir_ / "trainA/bitmap.bmp", 20, 20, 3);
    write_test_image(dir_ / "trainA/photo.jpeg", 100, 60, 3);
    std::ofstream(dir_ / "trainA/notes.txt") << "not an image";
    write_test_image(dir_ / "trainB/one.png", 32, 32, 3);
    write_test_image(dir_ / "trainB/two.tif", 70, 35, 3);
    write_test_image(dir_ / "trainB/three.webp", 50, 50, 3);
  }
  UnpairedLoaderOptions options(int64_t batch = 1) const {
    UnpairedLoaderOptions o;
    o.root = dir_.path();
    o.transform = {36, 32, true};
    o.batch_size = batch;
    o.workers = 2;
    o.prefetch = 3;
    o.seed = 5;
    return o;
  }
  testing::TempDir dir_;
};

TEST_F(Data, ListsImagesCaseInsensitivelyAndSkipsOtherFiles) {
  const auto images = list_images(dir_ / "trainA");
  EXPECT_EQ(images.size(), 6u);
  for (const auto& path : images) EXPECT_NE(path.extension(), ".txt");
  EXPECT_THROW(list_images(dir_ / "missing"), DataError);
  fs::create_directories(dir_ / "empty");
  std::ofstream(dir_ / "empty/readme.md") << "x";
  try {
    list_images(dir_ / "empty");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no image files"), std::string::npos) << e.what();
  }
}

TEST_F(Data, ReadImageGivesRgbInMinusOneToOne) {
  for (const auto& path : list_images(dir_ / "trainA")) {
    const at::Tensor image = read_image(path);
    EXPECT_EQ(image.dim(), 3) << path;
    EXPECT_EQ(image.size(0), 3) << path;
    EXPECT_GE(image.min().item<float>(), -1.f) << path;
    EXPECT_LE(image.max().item<float>(), 1.f) << path;
  }
  // 16-bit values are scaled, not clipped: the brightest pixel stays bright.
  EXPECT_GT(read_image(dir_ / "trainA/deep.png").max().item<float>(), 0.9f);
  const at::Tensor gray = read_image(dir_ / "trainA/gray.JPG");
  EXPECT_TRUE(torch::allclose(gray[0], gray[1]));
}

TEST_F(Data, UndecodableFileIsNamedInTheError) {
  std::ofstream(dir_ / "broken.jpg") << "definitely not a jpeg";
  try {
    read_image(dir_ / "broken.jpg");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jpg"), std::string::npos);
  }
}

TEST_F(Data, LoaderGivesBatchesOfTheCropSizeInRange) {
  UnpairedLoader loader(options(2));
  EXPECT_EQ(loader.size_a(), 6);
  EXPECT_EQ(loader.size_b(), 3);
  EXPECT_EQ(loader.steps_per_epoch(), 3);  // max(6, 3) images / batch 2
  for (int i = 0; i < 7; ++i) {
    const UnpairedBatch batch = loader.next();
    EXPECT_EQ(batch.real_a.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
    EXPECT_EQ(batch.real_b.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
    EXPECT_GE(batch.real_a.min().item<float>(), -1.f);
    EXPECT_LE(batch.real_a.max().item<float>(), 1.f);
    EXPECT_EQ(batch.epoch, i / 3);
    EXPECT_EQ(batch.step_in_epoch, i % 3);
  }
}

TEST_F(Data, SameSeedGivesIdenticalBatchesWhateverTheThreads) {
  auto first_options = options();
  auto second_options = options();
  second_options.workers = 1;
  second_options.prefetch = 1;
  UnpairedLoader first(first_options);
  UnpairedLoader second(second_options);
  for (int i = 0; i < 10; ++i) {
    const auto a = first.next();
    const auto b = second.next();
    EXPECT_TRUE(torch::equal(a.real_a, b.real_a)) << i;
    EXPECT_TRUE(torch::equal(a.real_b, b.real_b)) << i;
  }
}

TEST_F(Data, EachEpochVisitsEveryAImageOnce) {
  // Identify images by their (unaugmented) mean: use crop = load and no flip.
  auto o = options();
  o.transform = {32, 32, false};
  std::map<double, int> means_by_file;
  for (const auto& path : list_images(dir_ / "trainA")) {
    const double mean = load_image_resized(path, 32).mean().item<double>();
    means_by_file[std::round(mean * 1e5)] += 1;
  }
  ASSERT_EQ(means_by_file.size(), 6u) << "test images must differ";
  UnpairedLoader loader(o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::set<double> seen;
    for (int64_t s = 0; s < loader.steps_per_epoch(); ++s) {
      seen.insert(std::round(loader.next().real_a.mean().item<double>() * 1e5));
    }
    EXPECT_EQ(seen.size(), 6u) << "epoch " << epoch;
  }
}

// The official --serial_batches: position p pairs A[p mod |A|] with B[p mod |B|], in name order,
// every epoch alike (images told apart by their unaugmented content: crop = load, no flip).
// Whether `image` is `file` at 32x32, unaugmented.
bool same_image(const at::Tensor& image, const fs::path& file) {
  return torch::allclose(image, load_image_resized(file, 32), 0.0, 1e-5);
}

TEST_F(Data, SerialBatchesTakeBothDomainsInNameOrder) {
  auto o = options();
  o.transform = {32, 32, false};
  o.serial = true;
  const auto files_a = list_images(dir_ / "trainA");
  const auto files_b = list_images(dir_ / "trainB");
  UnpairedLoader loader(o);
  ASSERT_EQ(loader.steps_per_epoch(), 6);
  for (int64_t step = 0; step < 12; ++step) {
    const UnpairedBatch batch = loader.next();
    const int64_t position = step % 6;
    EXPECT_TRUE(same_image(batch.real_a[0], files_a[position % 6])) << "step " << step;
    EXPECT_TRUE(same_image(batch.real_b[0], files_b[position % 3])) << "step " << step;
  }
}

// The official --max_dataset_size and --direction BtoA.
TEST_F(Data, MaxDatasetSizeKeepsTheFirstFilesAndBtoASwapsTheFolders) {
  auto o = options();
  o.max_images = 2;
  {
    UnpairedLoader loader(o);
    EXPECT_EQ(loader.size_a(), 2);
    EXPECT_EQ(loader.size_b(), 2);
    EXPECT_EQ(loader.steps_per_epoch(), 2);
  }
  o.max_images = 0;
  o.swap_domains = true;
  o.transform = {32, 32, false};
  o.serial = true;
  UnpairedLoader swapped(o);
  EXPECT_EQ(swapped.size_a(), 3);  // trainB/
  EXPECT_EQ(swapped.size_b(), 6);  // trainA/
  const UnpairedBatch batch = swapped.next();
  EXPECT_TRUE(same_image(batch.real_a[0], list_images(dir_ / "trainB")[0]));
  EXPECT_TRUE(same_image(batch.real_b[0], list_images(dir_ / "trainA")[0]));
}

// Official --input_nc 1: luma as PIL's convert('L') computes it, (19595 R + 38470 G + 7471 B +
// 2^15) >> 16, before the resize; domain B keeps its own channel count.
TEST_F(Data, OneChannelDomainsReadLumaAsPil) {
  fs::create_directories(dir_ / "gray/trainA");
  fs::create_directories(dir_ / "gray/trainB");
  cv::Mat orange(8, 8, CV_8UC3, cv::Scalar(50, 100, 200));  // BGR: R 200, G 100, B 50
  ASSERT_TRUE(cv::imwrite((dir_ / "gray/trainA/orange.png").string(), orange));
  ASSERT_TRUE(cv::imwrite((dir_ / "gray/trainB/orange.png").string(), orange));
  auto o = options();
  o.root = dir_ / "gray";
  o.transform = {8, 8, false, 1};
  o.channels_b = 3;
  UnpairedLoader loader(o);
  const UnpairedBatch batch = loader.next();
  ASSERT_EQ(batch.real_a.sizes(), (std::vector<int64_t>{1, 1, 8, 8}));
  ASSERT_EQ(batch.real_b.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  const int luma = (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16;  // 124
  const float expected = (static_cast<float>(luma) / 255.0f - 0.5f) / 0.5f;
  EXPECT_EQ(batch.real_a.min().item<float>(), expected);
  EXPECT_EQ(batch.real_a.max().item<float>(), expected);
  EXPECT_TRUE(torch::equal(read_image(dir_ / "gray/trainA/orange.png", kMaxImagePixels, 1),
                           batch.real_a[0]));
  EXPECT_EQ(load_image_resized(dir_ / "gray/trainA/orange.png", 4, 1).size(0), 1);
}

TEST_F(Data, RandomCropAndFlipStayInsideTheResizedImage) {
  const at::Tensor full = load_image_resized(dir_ / "trainA/photo.jpeg", 36);
  bool saw_flip = false;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const at::Tensor crop =
        load_training_image(dir_ / "trainA/photo.jpeg", TransformOptions{36, 32, true}, seed);
    bool found = false;
    for (int64_t top = 0; top <= 4 && !found; ++top) {
      for (int64_t left = 0; left <= 4 && !found; ++left) {
        const at::Tensor window = full.slice(1, top, top + 32).slice(2, left, left + 32);
        if (torch::equal(window, crop)) found = true;
        if (torch::equal(window.flip({2}), crop)) {
          found = true;
          saw_flip = true;
        }
      }
    }
    EXPECT_TRUE(found) << "seed " << seed;
  }
  EXPECT_TRUE(saw_flip);
}

// The official transform's output sizes for `cases` (tests/reference/preprocess_sizes.py, one
// Python process for all): {width, height}, or {} where the official transform raises.
struct PreprocessCase {
  std::string preprocess;
  int64_t load_size;
  int64_t crop_size;
  int width;
  int height;
};

std::vector<std::vector<int64_t>> official_sizes(const std::vector<PreprocessCase>& cases) {
  std::ostringstream json;
  json << "[";
  for (size_t i = 0; i < cases.size(); ++i) {
    json << (i ? ", " : "") << "{\"preprocess\": \"" << cases[i].preprocess
         << "\", \"load_size\": " << cases[i].load_size << ", \"crop_size\": " << cases[i].crop_size
         << ", \"width\": " << cases[i].width << ", \"height\": " << cases[i].height << "}";
  }
  json << "]";
  const std::string script =
      (testing::source_dir() / "tests/reference/preprocess_sizes.py").string();
  const auto [status, output] =
      testing::run_shell("/usr/bin/python3 '" + script + "' '" + json.str() + "'");
  EXPECT_EQ(status, 0) << output;
  std::vector<std::vector<int64_t>> sizes;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    int64_t width = 0;
    int64_t height = 0;
    if (fields >> width >> height) {
      sizes.push_back({width, height});
    } else {
      sizes.emplace_back();
    }
  }
  return sizes;
}

TEST_F(Data, EveryPreprocessModeGivesTheOfficialSizesOnOddAndNonSquareImages) {
  const std::vector<std::pair<int, int>> image_sizes = {{40, 30}, {33, 50}, {64, 64}, {100, 60},
                                                        {50, 37}, {17, 90}, {48, 26}, {31, 31}};
  std::vector<PreprocessCase> cases;
  for (const std::string& mode : preprocess_modes()) {
    for (const auto& [width, height] : image_sizes) cases.push_back({mode, 48, 32, width, height});
  }
  cases.push_back({"scale_width", 48, 32, 48, 40});  // already the load width: kept as it is
  const auto expected = official_sizes(cases);
  ASSERT_EQ(expected.size(), cases.size());
  int raised = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const PreprocessCase& c = cases[i];
    const fs::path file = dir_ / ("size_" + std::to_string(i) + ".png");
    write_test_image(file, c.width, c.height, 3);
    TransformOptions transform;
    transform.load_size = c.load_size;
    transform.crop_size = c.crop_size;
    transform.preprocess = c.preprocess;
    transform.size_multiple = 4;  // a ResNet generator's, the official code's base
    const std::string label =
        c.preprocess + " " + std::to_string(c.width) + "x" + std::to_string(c.height);
    if (expected[i].empty()) {  // the official RandomCrop raises: we name the file instead
      ++raised;
      try {
        load_training_image(file, transform, 1);
        ADD_FAILURE() << label << ": no error";
      } catch (const DataError& e) {
        EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("is smaller than the 32x32 crop"), std::string::npos)
            << e.what();
      }
      continue;
    }
    // The official scale_width keeps a height that is not a multiple of 4, which its ResNet then
    // cannot take back to the same size; ours rounds it to the nearest multiple, ties to even.
    int64_t width = expected[i][0];
    int64_t height = expected[i][1];
    if (c.preprocess == "scale_width") height = std::llround(std::nearbyint(height / 4.0) * 4);
    const at::Tensor image = load_training_image(file, transform, i);
    EXPECT_EQ(image.sizes(), (std::vector<int64_t>{3, height, width})) << label;
    EXPECT_EQ(load_image_preprocessed(file, transform).sizes(), image.sizes()) << label;
  }
  EXPECT_GT(raised, 0);  // crop mode on images under 32 pixels
}

TEST_F(Data, UncroppedModesKeepThePixelsAndCropTakesAWindowAtTheImagesOwnSize) {
  const fs::path file = dir_ / "trainA/photo.jpeg";  // 100x60
  const at::Tensor original = read_image(file);
  TransformOptions transform;
  transform.flip = false;
  transform.preprocess = "none";
  EXPECT_TRUE(torch::equal(load_training_image(file, transform, 3), original));
  transform.preprocess = "scale_width";
  transform.load_size = 100;
  transform.crop_size = 32;
  EXPECT_TRUE(torch::equal(load_training_image(file, transform, 3), original));
  transform.preprocess = "crop";
  std::set<std::pair<int64_t, int64_t>> positions;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const at::Tensor crop = load_training_image(file, transform, seed);
    ASSERT_EQ(crop.sizes(), (std::vector<int64_t>{3, 32, 32}));
    bool found = false;
    for (int64_t top = 0; top <= 60 - 32; ++top) {
      for (int64_t left = 0; left <= 100 - 32; ++left) {
        if (torch::equal(original.slice(1, top, top + 32).slice(2, left, left + 32), crop)) {
          positions.insert({top, left});
          found = true;
        }
      }
    }
    EXPECT_TRUE(found) << "seed " << seed;
  }
  EXPECT_GT(positions.size(), 6u);  // windows of the unresized image, at random places
  // The sample transform takes the centre window.
  EXPECT_TRUE(torch::equal(load_image_preprocessed(file, transform),
                           original.slice(1, 14, 46).slice(2, 34, 66)));
}

TEST_F(Data, ScaleWidthBatchesKeepEachImagesProportions) {
  auto o = options();
  o.transform.preprocess = "scale_width";
  std::set<int64_t> heights;
  UnpairedLoader loader(o);
  for (int i = 0; i < 12; ++i) {
    const UnpairedBatch batch = loader.next();
    EXPECT_EQ(batch.real_a.size(3), 36);
    EXPECT_EQ(batch.real_a.size(2) % 4, 0);
    EXPECT_GE(batch.real_a.size(2), 32);
    heights.insert(batch.real_a.size(2));
  }
  EXPECT_GT(heights.size(), 2u);
  // Several images of different proportions cannot share a batch: the run stops, naming them.
  o.batch_size = 2;
  UnpairedLoader batched(o);
  try {
    for (int i = 0; i < 6; ++i) batched.next();
    FAIL() << "no error";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("data.preprocess scale_width keeps each image's own proportions, and "
                           "with data.batch_size 2 all images of a domain must come out the "
                           "same size"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("use data.batch_size 1"), std::string::npos) << message;
  }
}

TEST_F(Data, LoaderRefusesAMissingDomainFolder) {
  fs::remove_all(dir_ / "trainB");
  try {
    UnpairedLoader loader(options());
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("trainB"), std::string::npos) << e.what();
  }
}

TEST_F(Data, WriteImageRoundTripsWithinOneLevelAndLeavesNoTemporaryFile) {
  const at::Tensor image = torch::rand({3, 17, 23}) * 2 - 1;
  write_image(dir_ / "out.png", image);
  const at::Tensor read = read_image(dir_ / "out.png");
  EXPECT_EQ(read.sizes(), image.sizes());
  EXPECT_LE((read - image).abs().max().item<float>(), 1.0f / 127.5f + 1e-6f);
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace cyclegan
