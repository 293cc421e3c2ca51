#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "cyclegan/image_io.h"
#include "cyclegan/networks.h"
#include "cyclegan/translate.h"
#include "kernels/kernels.h"
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
                              translate_any_size(*generator_, image, 4), 1e-5, 1e-5));
}

// A picture with large-scale structure (a bright left half, a dark right half) and detail.
at::Tensor two_tone_picture(int64_t height, int64_t width) {
  at::Tensor picture = smooth_texture(height, width) * 0.4;
  picture.slice(3, 0, width / 2).add_(0.5);
  picture.slice(3, width / 2, width).sub_(0.5);
  return picture.clamp(-1, 1);
}

double interior_levels(const at::Tensor& a, const at::Tensor& b, int64_t margin, bool max) {
  const at::Tensor levels = (a - b)
                                .abs()
                                .mul(127.5)
                                .slice(2, margin, a.size(2) - margin)
                                .slice(3, margin, a.size(3) - margin);
  return max ? levels.max().item<double>() : levels.mean().item<double>();
}

TEST_F(Translate, TiledOutputStaysCloseToUntiledAwayFromBorders) {
  torch::NoGradGuard no_grad;
  const at::Tensor image = two_tone_picture(384, 512);
  const at::Tensor whole = translate_any_size(*generator_, image, 4);
  // Statistics from the full-size image: what remains is context lost at tile edges.
  const at::Tensor tiled = translate_tiled(*generator_, image, 160, 48, 4, 0);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const double mean = interior_levels(tiled, whole, 16, false);
  const double max = interior_levels(tiled, whole, 16, true);
  std::cout << "tiled (160 px, overlap 48) vs untiled, 8-bit levels away from borders: "
            << "full-size statistics mean " << mean << " max " << max << "\n";
  EXPECT_LT(mean, 3.0);
  EXPECT_LT(max, 40.0);
}

TEST_F(Translate, OverviewStatisticsShiftColoursEverywhereButLeaveNoSeams) {
  // Beyond the memory budget the statistics come from a downscaled overview. That changes the
  // whole picture alike (an overview lacks the finest detail); the tiling adds only small seams:
  // compare with the untiled image normalised by the same overview statistics.
  torch::NoGradGuard no_grad;
  const at::Tensor image = two_tone_picture(384, 512);
  const at::Tensor tiled = translate_tiled(*generator_, image, 160, 48, 4, 256);
  auto statistics = std::make_shared<NormStatistics>();
  statistics->mode = NormStatistics::Mode::kRecord;
  share_norm_statistics(*generator_, statistics);
  translate_any_size(
      *generator_,
      torch::nn::functional::interpolate(image, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{192, 256})
                                                    .mode(torch::kArea)),
      4);
  statistics->mode = NormStatistics::Mode::kReplay;
  const at::Tensor untiled_same_statistics = translate_any_size(*generator_, image, 4);
  share_norm_statistics(*generator_, nullptr);
  const at::Tensor untiled = translate_any_size(*generator_, image, 4);
  const double seam_mean = interior_levels(tiled, untiled_same_statistics, 16, false);
  const double seam_max = interior_levels(tiled, untiled_same_statistics, 16, true);
  std::cout << "half-size overview statistics, 8-bit levels away from borders: tiled vs untiled "
               "with the same statistics (seams) mean "
            << seam_mean << " max " << seam_max << "; vs untiled with its own statistics mean "
            << interior_levels(tiled, untiled, 16, false) << " max "
            << interior_levels(tiled, untiled, 16, true) << "\n";
  EXPECT_LT(seam_mean, 3.0);
  EXPECT_LT(seam_max, 40.0);
}

TEST_F(Translate, TilesNormalisedOnTheirOwnWouldShowSeams) {
  // Why the statistics pass exists: without it the same tiling differs far more.
  torch::NoGradGuard no_grad;
  const at::Tensor image = two_tone_picture(384, 512);
  const at::Tensor whole = translate_any_size(*generator_, image, 4);
  const at::Tensor shared = translate_tiled(*generator_, image, 160, 48, 4, 0);
  at::Tensor own = torch::zeros_like(whole);
  for (int64_t top : {0, 112, 224}) {  // hard-edged tiles covering every pixel
    for (int64_t left : {0, 120, 240, 352}) {
      own.slice(2, top, top + 160)
          .slice(3, left, left + 160)
          .copy_(translate_any_size(*generator_,
                                    image.slice(2, top, top + 160).slice(3, left, left + 160), 4));
    }
  }
  EXPECT_GT(interior_levels(own, whole, 16, false), 4 * interior_levels(shared, whole, 16, false));
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

// The command line runs a ResNet's 3x3 convolutions through Winograd unless --exact: the library's
// default (LibTorch's direct convolutions, PyTorch's results to 1e-5) is what --exact writes, and
// the default stays within one 8-bit level of it.
TEST_F(Translate, CommandLineTakesWinogradUnlessExactWithinOneLevel) {
  testing::TempDir dir;
  torch::manual_seed(11);
  auto generator = make_generator(GeneratorOptions().architecture("resnet_9blocks").ngf(16));
  init_weights(*generator);
  NetworkInfo info;
  info.architecture = "resnet_9blocks";
  info.filters = 16;
  save_network(dir / "g.pt", *generator, info);
  write_image(dir / "in.png", smooth_texture(256, 256)[0]);
  for (const std::string variant : {"default", "exact", "fast"}) {
    const std::string flag = variant == "default" ? "" : " --" + variant;
    const auto result =
        testing::run_cyclegan("translate --ckpt g.pt in.png -o " + variant + flag, dir.path());
    ASSERT_EQ(result.exit_code, 0) << variant << ": " << result.err;
  }
  TranslateOptions options;
  options.checkpoint = dir / "g.pt";
  options.output_dir = dir / "library";
  options.device = "cpu";
  Translator(options).translate({dir / "in.png"});

  const at::Tensor exact = read_image(dir / "exact/in.png");
  const at::Tensor by_default = read_image(dir / "default/in.png");
  EXPECT_TRUE(torch::equal(exact, read_image(dir / "library/in.png")));
  EXPECT_TRUE(torch::equal(by_default, read_image(dir / "fast/in.png")));  // --fast: accepted
  const at::Tensor levels = ((by_default - exact) * 127.5).abs().round();
  EXPECT_LE(levels.max().item<double>(), 1.0);
  const int64_t moved = (levels > 0).sum().item<int64_t>();
  std::cout << "  resnet_9blocks ngf 16 at 256x256: " << moved << " of " << levels.numel()
            << " 8-bit values one level away from --exact\n";
  if (kernels::available().winograd_for_inference) {
    EXPECT_GT(moved, 0);  // the Winograd path was taken
  }
}

}  // namespace
}  // namespace cyclegan
