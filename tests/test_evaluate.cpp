#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "cyclegan/checkpoint.h"
#include "cyclegan/evaluate.h"
#include "cyclegan/image_io.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

TEST(ImageMetrics, PsnrOfAKnownErrorAndOfIdenticalImages) {
  const at::Tensor a = torch::zeros({3, 16, 16});  // 0.5 on the [0, 1] scale
  // +0.2 in [-1, 1] is +0.1 on [0, 1]: MSE 0.01, PSNR 20 dB, L1 0.1.
  EXPECT_NEAR(psnr(a, a + 0.2), 20.0, 1e-5);  // 0.2 in float32
  EXPECT_NEAR(mean_absolute_difference(a, a + 0.2), 0.1, 1e-7);
  EXPECT_TRUE(std::isinf(psnr(a, a)));
}

TEST(ImageMetrics, SsimOfFlatImagesFollowsTheLuminanceTerm) {
  // Flat images have no variance: SSIM = (2xy + C1) / (x^2 + y^2 + C1).
  const double x = 0.25;
  const double y = 0.75;
  const double c1 = 0.01 * 0.01;
  EXPECT_NEAR(ssim(torch::full({1, 3, 20, 24}, x * 2 - 1), torch::full({1, 3, 20, 24}, y * 2 - 1)),
              (2 * x * y + c1) / (x * x + y * y + c1), 1e-9);
}

TEST(ImageMetrics, SsimIsOneForIdenticalImagesAndFallsWithNoise) {
  torch::manual_seed(3);
  const at::Tensor image = torch::rand({3, 32, 32}) * 2 - 1;
  EXPECT_NEAR(ssim(image, image), 1.0, 1e-9);
  const double slightly = ssim(image, (image + 0.05 * torch::randn_like(image)).clamp(-1, 1));
  const double heavily = ssim(image, (image + 0.5 * torch::randn_like(image)).clamp(-1, 1));
  EXPECT_LT(slightly, 1.0);
  EXPECT_LT(heavily, slightly);
  // Smaller than the 11x11 window: one window over the whole image still works.
  EXPECT_NEAR(ssim(image.slice(1, 0, 5).slice(2, 0, 5), image.slice(1, 0, 5).slice(2, 0, 5)), 1.0,
              1e-9);
}

TEST(Evaluate, TranslatesBothTestFoldersAndMeasuresAgainstGroundTruth) {
  testing::TempDir dir;
  SyntheticFruitOptions data;
  data.root = dir / "data";
  data.train_per_domain = 3;
  data.test_per_domain = 2;
  data.image_size = 32;
  make_fruit_dataset(data);
  // Ground truth for the A->B direction only: one file, named like its testA image.
  const fs::path first_a = list_images(dir / "data/testA").front();
  fs::create_directories(dir / "data/testA_gt");
  fs::copy_file(list_images(dir / "data/testB").front(),
                dir / "data/testA_gt" / first_a.filename());

  TrainConfig config;
  config.data_root = (dir / "data").string();
  config.input_dim = 32;
  config.gen_n_filters = 8;
  config.disc_n_filters = 8;
  config.device = "cpu";
  config.max_steps = 2;
  config.output_dir = (dir / "run").string();
  Trainer(config).run();

  EvaluateOptions options;
  options.run_dir = dir / "run";
  options.device = "cpu";
  const Evaluation evaluation = evaluate_run(options);
  ASSERT_EQ(evaluation.directions.size(), 2u);
  EXPECT_EQ(evaluation.output_dir, dir / "run/test_step_2");
  const DirectionMetrics& a2b = evaluation.directions[0];
  const DirectionMetrics& b2a = evaluation.directions[1];
  EXPECT_EQ(a2b.name, "A2B");
  EXPECT_EQ(a2b.images, 2);
  EXPECT_EQ(a2b.paired, 1);
  EXPECT_EQ(b2a.paired, 0);

  // The cycle L1 is what the saved generators give on the saved inputs.
  const LoadedGenerator g_ab = load_generator(dir / "run/g_AB.pt");
  const LoadedGenerator g_ba = load_generator(dir / "run/g_BA.pt");
  g_ab.generator->eval();
  g_ba.generator->eval();
  torch::NoGradGuard no_grad;
  double cycle = 0;
  double paired_psnr = 0;
  for (const fs::path& file : list_images(dir / "data/testA")) {
    const at::Tensor real = read_image(file).unsqueeze(0);
    const at::Tensor fake = g_ab.generator->forward(real);
    cycle += mean_absolute_difference(g_ba.generator->forward(fake), real) / 2;  // of 2 images
    if (file == first_a) {
      paired_psnr = psnr(fake, read_image(dir / "data/testA_gt" / first_a.filename()));
    }
  }
  EXPECT_NEAR(a2b.cycle_l1, cycle, 1e-6);
  EXPECT_NEAR(a2b.paired_psnr, paired_psnr, 1e-6);
  EXPECT_GT(a2b.paired_ssim, -1.0);
  EXPECT_LT(a2b.paired_ssim, 1.0);

  // Every image and the index are written; the index shows them.
  for (const char* suffix : {"_real.png", "_fake.png", "_rec.png", "_idt.png", "_truth.png"}) {
    EXPECT_TRUE(fs::exists(evaluation.output_dir / "A2B" / (first_a.stem().string() + suffix)))
        << suffix;
  }
  std::ifstream index(evaluation.index);
  std::stringstream html;
  html << index.rdbuf();
  EXPECT_NE(html.str().find("A2B/" + first_a.stem().string() + "_fake.png"), std::string::npos);
  EXPECT_TRUE(fs::exists(evaluation.output_dir / "metrics.csv"));
  EXPECT_TRUE(fs::exists(evaluation.output_dir / "images.csv"));

  // The official --num_test and --aspect_ratio: one image per folder, written twice as wide, with
  // the metrics of the unstretched translation.
  options.output_dir = dir / "one";
  options.num_test = 1;
  options.aspect_ratio = 2.0;
  const Evaluation one = evaluate_run(options);
  ASSERT_EQ(one.directions.size(), 2u);
  EXPECT_EQ(one.directions[0].images, 1);
  EXPECT_EQ(one.directions[1].images, 1);
  const at::Tensor wide =
      read_image(one.output_dir / "A2B" / (first_a.stem().string() + "_fake.png"));
  EXPECT_EQ(wide.size(1), 32);
  EXPECT_EQ(wide.size(2), 64);
  EXPECT_NEAR(one.directions[0].paired_psnr, paired_psnr, 1e-6);
  options.aspect_ratio = 0.5;
  options.output_dir = dir / "tall";
  const Evaluation tall = evaluate_run(options);
  const at::Tensor high =
      read_image(tall.output_dir / "A2B" / (first_a.stem().string() + "_real.png"));
  EXPECT_EQ(high.size(1), 64);
  EXPECT_EQ(high.size(2), 32);
}

}  // namespace
}  // namespace cyclegan
