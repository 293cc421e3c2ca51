#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cyclegan/errors.h"
#include "cyclegan/synthetic.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

const char* const kFolders[] = {"trainA", "trainB", "testA", "testB"};

SyntheticFruitOptions small_options(const fs::path& root) {
  SyntheticFruitOptions options;
  options.root = root;
  options.train_per_domain = 5;
  options.test_per_domain = 3;
  options.image_size = 32;
  return options;
}

std::vector<fs::path> sorted_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs make_fruit_dataset and returns the DataError message, or "" when nothing was thrown.
std::string error_of(const SyntheticFruitOptions& options) {
  try {
    make_fruit_dataset(options);
  } catch (const DataError& error) {
    return error.what();
  }
  return "";
}

// Share of strongly coloured pixels whose hue is red (OpenCV hue < 9 or > 160 of 180); oranges sit
// around 12-20, so this separates the domains where plain R - G does not (dark red vs bright
// orange have similar R - G).
double red_share(const cv::Mat& bgr) {
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  int coloured = 0, red = 0;
  for (auto it = hsv.begin<cv::Vec3b>(); it != hsv.end<cv::Vec3b>(); ++it) {
    if ((*it)[1] < 100 || (*it)[2] < 60) continue;
    ++coloured;
    if ((*it)[0] < 9 || (*it)[0] > 160) ++red;
  }
  return coloured == 0 ? 0.0 : static_cast<double>(red) / coloured;
}

double mean_red_share(const fs::path& folder) {
  double total = 0;
  const std::vector<fs::path> files = sorted_files(folder);
  for (const fs::path& file : files) total += red_share(cv::imread(file.string()));
  return total / static_cast<double>(files.size());
}

TEST(SyntheticFruit, WritesFourFoldersWithRequestedCounts) {
  testing::TempDir dir;
  EXPECT_EQ(make_fruit_dataset(small_options(dir.path())), 16);
  std::set<std::string> entries;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    entries.insert(entry.path().filename().string());
  }
  // Only the four final folders: no temporary folders are left behind.
  EXPECT_EQ(entries, (std::set<std::string>{"testA", "testB", "trainA", "trainB"}));
  const std::vector<fs::path> train_a = sorted_files(dir / "trainA");
  ASSERT_EQ(train_a.size(), 5u);
  EXPECT_EQ(train_a.front().filename(), "apple_0000.png");
  EXPECT_EQ(train_a.back().filename(), "apple_0004.png");
  EXPECT_EQ(sorted_files(dir / "trainB").size(), 5u);
  EXPECT_EQ(sorted_files(dir / "testA").size(), 3u);
  const std::vector<fs::path> test_b = sorted_files(dir / "testB");
  ASSERT_EQ(test_b.size(), 3u);
  EXPECT_EQ(test_b.front().filename(), "orange_0000.png");
}

// The grade task: every test image's correct translation under its own name, exactly the grade's
// curves applied (or undone), and training images of different fruit on the two sides.
TEST(SyntheticFruit, GradeTaskPairsEveryTestImageWithItsExactTranslation) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir.path());
  options.task = "grade";
  EXPECT_EQ(make_fruit_dataset(options), 5 + 5 + 4 * 3);
  const auto& curves = colour_grade_curves();
  for (int c = 0; c < 3; ++c) {
    for (int level = 1; level < 256; ++level)
      EXPECT_LE(curves[c][level - 1], curves[c][level]) << "channel " << c << " is not monotone";
    EXPECT_EQ(curves[c][0], 0);
    EXPECT_EQ(curves[c][255], 255);
  }
  // `graded` must be `plain` through the curves, pixel by pixel (BGR files).
  auto expect_graded = [&](const fs::path& plain_file, const fs::path& graded_file) {
    const cv::Mat plain = cv::imread(plain_file.string(), cv::IMREAD_COLOR);
    const cv::Mat graded = cv::imread(graded_file.string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(plain.empty() || graded.empty()) << plain_file << " " << graded_file;
    int wrong = 0;
    for (int y = 0; y < plain.rows; ++y) {
      for (int x = 0; x < plain.cols; ++x) {
        const cv::Vec3b p = plain.at<cv::Vec3b>(y, x);
        const cv::Vec3b g = graded.at<cv::Vec3b>(y, x);
        wrong += g[2] != curves[0][p[2]] || g[1] != curves[1][p[1]] || g[0] != curves[2][p[0]];
      }
    }
    EXPECT_EQ(wrong, 0) << graded_file;
  };
  for (const fs::path& file : sorted_files(dir / "testA")) {
    expect_graded(file, dir / "testA_gt" / file.filename());
  }
  for (const fs::path& file : sorted_files(dir / "testB")) {
    expect_graded(dir / "testB_gt" / file.filename(), file);
  }
  // Unpaired training sets: no B image is an A image graded.
  const std::vector<fs::path> train_a = sorted_files(dir / "trainA");
  const std::vector<fs::path> train_b = sorted_files(dir / "trainB");
  ASSERT_EQ(train_a.size(), 5u);
  EXPECT_EQ(train_a.front().filename(), "fruit_0000.png");
  const cv::Mat first_b = cv::imread(train_b.front().string());
  for (const fs::path& file : train_a) {
    cv::Mat lut(1, 256, CV_8UC3);
    for (int level = 0; level < 256; ++level)
      lut.at<cv::Vec3b>(0, level) = {curves[2][level], curves[1][level], curves[0][level]};
    cv::Mat graded;
    cv::LUT(cv::imread(file.string()), lut, graded);
    EXPECT_GT(cv::norm(graded, first_b, cv::NORM_L1), 0.0) << file;
  }
}

TEST(SyntheticFruit, SkinTaskTruthsAreTheSameScenesWithTheOtherFruit) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir.path());
  options.task = "skin";
  options.image_size = 48;
  EXPECT_EQ(make_fruit_dataset(options), 5 + 5 + 4 * 3);
  // Mean green / red over the pixels where the two images differ: lower on apple skin (red or
  // red over yellow-green) than on orange peel (orange).
  auto greenness_where_different = [](const cv::Mat& image, const cv::Mat& other) {
    double sum = 0;
    int count = 0;
    for (int y = 0; y < image.rows; ++y) {
      for (int x = 0; x < image.cols; ++x) {
        const cv::Vec3b p = image.at<cv::Vec3b>(y, x), q = other.at<cv::Vec3b>(y, x);
        if (cv::norm(cv::Vec3d(p) - cv::Vec3d(q)) < 12) continue;
        sum += p[1] / std::max(1.0, static_cast<double>(p[2]));
        ++count;
      }
    }
    return count > 0 ? sum / count : 0.0;
  };
  double difference_sum = 0;
  int pairs = 0;
  for (const auto& [test, truth, prefix] :
       {std::tuple{"testA", "testA_gt", "apple_"}, std::tuple{"testB", "testB_gt", "orange_"}}) {
    const std::vector<fs::path> files = sorted_files(dir / test);
    ASSERT_EQ(files.size(), 3u);
    for (const fs::path& file : files) {
      EXPECT_EQ(file.filename().string().rfind(prefix, 0), 0u) << file;
      const cv::Mat image = cv::imread(file.string(), cv::IMREAD_COLOR);
      const cv::Mat paired = cv::imread((dir / truth / file.filename()).string(), cv::IMREAD_COLOR);
      ASSERT_FALSE(image.empty() || paired.empty()) << file;
      // Same scene: most pixels (the background) agree exactly; the fruit does not.
      cv::Mat same;
      cv::compare(image.reshape(1), paired.reshape(1), same, cv::CMP_EQ);
      const double agreeing = cv::countNonZero(same) / static_cast<double>(same.total());
      EXPECT_GT(agreeing, 0.3) << file;
      EXPECT_LT(agreeing, 0.97) << file;
      const bool apple = std::string(test) == "testA";
      const double orange_minus_apple =
          greenness_where_different(apple ? paired : image, apple ? image : paired) -
          greenness_where_different(apple ? image : paired, apple ? paired : image);
      difference_sum += orange_minus_apple;
      ++pairs;
    }
  }
  // One pair can go either way (some apples are yellow-red); all six together cannot.
  EXPECT_GT(difference_sum / pairs, 0.1);
  // Unpaired training sets: apples in A, oranges in B, no scene shared.
  const std::vector<fs::path> train_a = sorted_files(dir / "trainA");
  const std::vector<fs::path> train_b = sorted_files(dir / "trainB");
  ASSERT_EQ(train_b.size(), 5u);
  EXPECT_EQ(train_b.front().filename(), "orange_0000.png");
  for (size_t i = 0; i < train_a.size(); ++i) {
    cv::Mat same;
    cv::compare(cv::imread(train_a[i].string()).reshape(1),
                cv::imread(train_b[i].string()).reshape(1), same, cv::CMP_EQ);
    EXPECT_LT(cv::countNonZero(same), static_cast<int>(same.total() / 10)) << train_a[i];
  }
}

TEST(SyntheticFruit, SameSeedGivesIdenticalFiles) {
  testing::TempDir dir;
  make_fruit_dataset(small_options(dir / "first"));
  make_fruit_dataset(small_options(dir / "second"));
  for (const char* folder : kFolders) {
    const std::vector<fs::path> first = sorted_files(dir / "first" / folder);
    const std::vector<fs::path> second = sorted_files(dir / "second" / folder);
    ASSERT_EQ(first.size(), second.size()) << folder;
    for (std::size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(first[i].filename(), second[i].filename());
      EXPECT_TRUE(read_bytes(first[i]) == read_bytes(second[i])) << first[i] << " vs " << second[i];
    }
  }
}

TEST(SyntheticFruit, DifferentSeedsGiveDifferentImages) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir / "one");
  make_fruit_dataset(options);
  options.root = dir / "two";
  options.seed = 2;
  make_fruit_dataset(options);
  for (const char* folder : kFolders) {
    const std::vector<fs::path> one = sorted_files(dir / "one" / folder);
    const std::vector<fs::path> two = sorted_files(dir / "two" / folder);
    for (std::size_t i = 0; i < one.size(); ++i) {
      EXPECT_NE(read_bytes(one[i]), read_bytes(two[i])) << one[i];
    }
  }
}

TEST(SyntheticFruit, EveryImageDiffersFromEveryOther) {
  testing::TempDir dir;
  make_fruit_dataset(small_options(dir.path()));
  std::set<std::string> contents;
  int count = 0;
  for (const char* folder : kFolders) {
    for (const fs::path& file : sorted_files(dir / folder)) {
      contents.insert(read_bytes(file));
      ++count;
    }
  }
  EXPECT_EQ(contents.size(), static_cast<std::size_t>(count));
}

TEST(SyntheticFruit, ApplesAreRedderThanOranges) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir.path());
  options.train_per_domain = 40;
  options.image_size = 64;
  make_fruit_dataset(options);
  const double apples = mean_red_share(dir / "trainA");
  const double oranges = mean_red_share(dir / "trainB");
  EXPECT_GT(apples, 0.4);
  EXPECT_LT(oranges, 0.15);
  EXPECT_GT(apples - oranges, 0.3);
}

TEST(SyntheticFruit, ImagesHaveRequestedSizeAndThreeChannels) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir.path());
  options.image_size = 48;
  make_fruit_dataset(options);
  for (const char* folder : kFolders) {
    for (const fs::path& file : sorted_files(dir / folder)) {
      const cv::Mat image = cv::imread(file.string(), cv::IMREAD_UNCHANGED);
      ASSERT_FALSE(image.empty()) << file;
      EXPECT_EQ(image.rows, 48) << file;
      EXPECT_EQ(image.cols, 48) << file;
      EXPECT_EQ(image.type(), CV_8UC3) << file;
    }
  }
}

TEST(SyntheticFruit, RefusesToOverwriteExistingFolder) {
  testing::TempDir dir;
  fs::create_directories(dir / "testB");
  std::ofstream(dir / "testB" / "keep.txt") << "mine";
  const std::string message = error_of(small_options(dir.path()));
  EXPECT_NE(message.find("testB"), std::string::npos) << message;
  EXPECT_NE(message.find("exists"), std::string::npos) << message;
  // Nothing else was written and the existing folder is untouched.
  EXPECT_FALSE(fs::exists(dir / "trainA"));
  EXPECT_TRUE(fs::exists(dir / "testB" / "keep.txt"));
  EXPECT_EQ(sorted_files(dir.path()).size(), 1u);
}

TEST(SyntheticFruit, RejectsTooSmallImageSize) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir / "data");
  options.image_size = 8;
  const std::string message = error_of(options);
  EXPECT_NE(message.find("image_size must be >= 16, got 8"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "data"));
}

TEST(SyntheticFruit, RejectsNonPositiveCountsAndEmptyRoot) {
  testing::TempDir dir;
  SyntheticFruitOptions options = small_options(dir.path());
  options.train_per_domain = 0;
  EXPECT_NE(error_of(options).find("train_per_domain must be >= 1, got 0"), std::string::npos);
  options = small_options(dir.path());
  options.test_per_domain = -2;
  EXPECT_NE(error_of(options).find("test_per_domain must be >= 1, got -2"), std::string::npos);
  options = small_options("");
  EXPECT_NE(error_of(options).find("root"), std::string::npos);
}

TEST(SyntheticFruit, ReportsUnwritableRootNamingThePath) {
  testing::TempDir dir;
  const fs::path file = dir / "plain_file";
  std::ofstream(file) << "not a folder";
  const std::string message = error_of(small_options(file));
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
}

}  // namespace
}  // namespace cyclegan
