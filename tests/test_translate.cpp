#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "cyclegan/image_io.h"
#include "cyclegan/networks.h"
#include "cyclegan/translate.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

// A smooth random image in [-1, 1].
at::Tensor smooth_texture(int64_t height, int64_t width) {
  auto coarse = torch::rand({1, 3, height / 16 + 1, width / 16 + 1}) * 2 - 1;
  return torch::upsample_bilinear2d(coarse, {height, width}, false).clamp(-1, 1);
}

class Translate : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    generator_ = make_generator(GeneratorOptions().architecture("resnet_6blocks").ngf(16));
    init_weights(*generator_);
    generator_->eval();
  }
  GeneratorPtr generator_;
};

TEST_F(Translate, AnySizeKeepsTheInputSize) {
  torch::NoGradGuard no_grad;
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{37, 50}, {3, 5}, {64, 64}, {1, 1}}) {
    EXPECT_EQ(translate_any_size(*generator_, torch::zeros({1, 3, h, w}), 4).sizes(),
              (std::vector<int64_t>{1, 3, h, w}));
  }
}

TEST_F(Translate, OneTileCoveringTheImageEqualsTheUntiledResult) {
  torch::NoGradGuard no_grad;
  const at::Tensor image = smooth_texture(100, 120);
  EXPECT_TRUE(torch::allclose(translate_tiled(*generator_, image, 128, 32, 4),
                              translate_any_size(*generator_, image, 4), 1e-6, 1e-6));
}

TEST(TranslateMemory, EstimateGrowsWithPixelsAndFilters) {
  NetworkInfo info;
  info.architecture = "resnet_9blocks";
  info.filters = 64;
  const int64_t small = estimate_inference_bytes(info, 256, 256);
  EXPECT_EQ(estimate_inference_bytes(info, 512, 512), 4 * small);
  info.filters = 32;
  EXPECT_EQ(estimate_inference_bytes(info, 256, 256) * 2, small);
  info.filters = 64;
  // A 3000x2000 photo at ngf 64 is far beyond the default 4 GiB budget: it will be tiled.
  EXPECT_GT(estimate_inference_bytes(info, 2000, 3000), int64_t{4} << 30);
}

TEST_F(Translate, UnreadableInputsAreSkippedAndReported) {
  testing::TempDir dir;
  const fs::path checkpoint = dir / "g.pt";
  NetworkInfo info;
  info.architecture = "resnet_6blocks";
  info.filters = 16;
  save_network(checkpoint, *generator_, info);
  write_image(dir / "good.png", torch::zeros({3, 20, 24}));
  std::ofstream(dir / "bad.jpg") << "not a jpeg";
  TranslateOptions options;
  options.checkpoint = checkpoint;
  options.output_dir = dir / "out";
  options.device = "cpu";
  Translator translator(options);
  const auto written = translator.translate({dir / "bad.jpg", dir / "good.png"});
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].filename(), "good.png");
  ASSERT_EQ(translator.failed().size(), 1u);
  EXPECT_NE(translator.failed()[0].find("bad.jpg"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "out/bad.png"));
}

TEST_F(Translate, ForcedTilingWritesTheFullSizeImage) {
  testing::TempDir dir;
  NetworkInfo info;
  info.architecture = "resnet_6blocks";
  info.filters = 16;
  save_network(dir / "g.pt", *generator_, info);
  write_image(dir / "wide.png", smooth_texture(90, 300)[0]);
  TranslateOptions options;
  options.checkpoint = dir / "g.pt";
  options.output_dir = dir / "out";
  options.device = "cpu";
  options.tile = 64;
  options.tile_overlap = 16;
  const auto written = Translator(options).translate({dir / "wide.png"});
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(read_image(written[0]).sizes(), (std::vector<int64_t>{3, 90, 300}));
}

}  // namespace
}  // namespace cyclegan
