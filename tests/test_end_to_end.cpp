// Runs the real `cyclegan` executable the way a user does.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cyclegan/checkpoint.h"
#include "cyclegan/evaluate.h"
#include "cyclegan/image_io.h"
#include "cyclegan/report.h"
#include "cyclegan/trainer.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::read_file;
using testing::run_cyclegan;

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_regular_file(testing::executable())) << testing::executable();
  }
  testing::TempDir dir_;
};

TEST_F(EndToEnd, HelpAndVersionExitZero) {
  auto result = run_cyclegan("--help", dir_.path());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("translate"), std::string::npos);
  for (const char* command : {"train", "translate", "make-data"}) {
    result = run_cyclegan(std::string(command) + " --help", dir_.path());
    EXPECT_EQ(result.exit_code, 0) << command;
    EXPECT_NE(result.out.find("Examples"), std::string::npos) << command;
  }
  result = run_cyclegan("--version", dir_.path());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("cyclegan 0."), std::string::npos) << result.out;
}

TEST_F(EndToEnd, UsageAndConfigErrorsExitTwoWithOneLine) {
  auto result = run_cyclegan("train --no-such-flag", dir_.path());
  EXPECT_EQ(result.exit_code, 2) << result.err;
  std::ofstream(dir_ / "bad.yaml") << "train:\n  lambda_id: -2\n";
  result = run_cyclegan("train --config bad.yaml", dir_.path());
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("bad.yaml: key 'train.lambda_id' must be >= 0, got -2"),
            std::string::npos)
      << result.err;
  result = run_cyclegan("train --set model.generator=unet", dir_.path());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("did you mean 'model.generator_type'"), std::string::npos)
      << result.err;
}

TEST_F(EndToEnd, TrainWritesEveryPromisedFileAndTranslateKeepsInputSizes) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 6 --test-count 2 --seed 3", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;

  result = run_cyclegan(
      "train --set data.root=data --set model.input_dim=32 --set model.gen_n_filters=8 "
      "--set model.disc_n_filters=8 --set train.epochs=1 --set train.decay_epochs=1 "
      "--set output.dir=run --set output.log_every=2 --set output.sample_every=4 "
      "--set output.checkpoint_every=5 --set train.pool_size=3",
      dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const fs::path run = dir_ / "run";
  for (const char* file :
       {"config.yaml", "train.log", "losses.csv", "g_AB.pt", "g_BA.pt", "d_A.pt", "d_B.pt"}) {
    EXPECT_TRUE(fs::is_regular_file(run / file)) << file;
  }
  // Checkpoint paths go to stdout for scripts.
  EXPECT_NE(result.out.find("g_AB.pt"), std::string::npos) << result.out;
  // The progress line names every loss.
  EXPECT_NE(result.err.find("D_A"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("reconstr"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("s/step"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("ETA"), std::string::npos) << result.err;

  // 2 epochs of max(6, 6) steps: every row finite, steps 1..12, epochs 1 and 2.
  std::ifstream csv(run / "losses.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, LossLog::header());
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    std::stringstream fields(line);
    std::string field;
    std::vector<double> values;
    while (std::getline(fields, field, ',')) values.push_back(std::stod(field));
    ASSERT_EQ(values.size(), 10u) << line;
    EXPECT_EQ(values[0], rows);
    EXPECT_EQ(values[1], rows <= 6 ? 1 : 2);
    for (double value : values) EXPECT_TRUE(std::isfinite(value)) << line;
    EXPECT_GT(values[8], 0.0) << "learning rate";
  }
  EXPECT_EQ(rows, 12);

  // Samples at steps 4, 8 and 12, laid out 2 rows x 4 columns of 32x32 with 2-pixel gutters.
  for (const char* sample : {"step_000004.png", "step_000008.png", "step_000012.png"}) {
    ASSERT_TRUE(fs::is_regular_file(run / "samples" / sample)) << sample;
  }
  const at::Tensor grid = read_image(run / "samples/step_000012.png");
  EXPECT_EQ(grid.size(1), 2 * 34 + 2);
  EXPECT_EQ(grid.size(2), 4 * 34 + 2);

  // The resolved configuration is complete and reflects the overrides.
  const std::string resolved = read_file(run / "config.yaml");
  EXPECT_NE(resolved.find("input_dim: 32"), std::string::npos) << resolved;
  EXPECT_NE(resolved.find("lambda_reconstr: 10"), std::string::npos) << resolved;

  // Generator files describe themselves.
  const NetworkFile g_ab = read_network_file(run / "g_AB.pt");
  EXPECT_EQ(g_ab.info.kind, "generator");
  EXPECT_EQ(g_ab.info.architecture, "unet");
  EXPECT_EQ(g_ab.info.filters, 8);
  EXPECT_EQ(g_ab.info.image_size, 32);
  EXPECT_EQ(g_ab.info.step, 12);

  // Translate a folder holding images of sizes the U-Net cannot take directly.
  fs::create_directories(dir_ / "inputs");
  write_image(dir_ / "inputs/odd.png", torch::rand({3, 37, 50}) * 2 - 1);
  write_image(dir_ / "inputs/small.jpg", torch::rand({3, 9, 13}) * 2 - 1);
  write_image(dir_ / "inputs/square.png", torch::rand({3, 32, 32}) * 2 - 1);
  result = run_cyclegan("translate --ckpt run/g_AB.pt inputs -o translated", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_image(dir_ / "translated/odd.png").sizes(), (std::vector<int64_t>{3, 37, 50}));
  EXPECT_EQ(read_image(dir_ / "translated/small.png").sizes(), (std::vector<int64_t>{3, 9, 13}));
  EXPECT_EQ(read_image(dir_ / "translated/square.png").sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_NE(result.out.find("translated/odd.png"), std::string::npos) << result.out;

  // --resize gives a fixed size instead.
  result = run_cyclegan("translate --ckpt run/g_BA.pt inputs/odd.png --resize 64 -o resized",
                        dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_image(dir_ / "resized/odd.png").sizes(), (std::vector<int64_t>{3, 64, 64}));

  // A discriminator is not a generator.
  result = run_cyclegan("translate --ckpt run/d_A.pt inputs -o nope", dir_.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("d_A.pt: holds a discriminator"), std::string::npos) << result.err;
}

int count_lines(const fs::path& path) {
  std::ifstream stream(path);
  int lines = 0;
  for (std::string line; std::getline(stream, line);) ++lines;
  return lines;
}

// Official --input_nc 1 --output_nc 3: gray A images to colour B images, through train,
// translate (a gray generator reads colour files as luma; a gray output is written as RGB with
// equal channels) and test.
TEST_F(EndToEnd, GrayToColourTrainsTranslatesAndTests) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 4 --test-count 2 --seed 3", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run_cyclegan(
      "train --set data.root=data --set model.input_dim=32 --set model.gen_n_filters=8 "
      "--set model.disc_n_filters=8 --set train.epochs=1 --set output.dir=run "
      "--set model.input_nc=1 --set model.output_nc=3 --set train.lambda_id=0",
      dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_network_file(dir_ / "run/g_AB.pt").info.in_channels, 1);
  EXPECT_EQ(read_network_file(dir_ / "run/g_AB.pt").info.out_channels, 3);
  EXPECT_EQ(read_network_file(dir_ / "run/g_BA.pt").info.in_channels, 3);
  EXPECT_EQ(read_network_file(dir_ / "run/g_BA.pt").info.out_channels, 1);
  // Sample grids: 3 columns (no identity across channel counts), gray shown as RGB.
  const at::Tensor grid = read_image(dir_ / "run/samples/step_000004.png");
  EXPECT_EQ(grid.size(2), 3 * 34 + 2);

  result = run_cyclegan("translate --ckpt run/g_BA.pt data/testB -o gray", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto gray_files = list_images(dir_ / "gray");
  ASSERT_EQ(gray_files.size(), 2u);
  const at::Tensor gray = read_image(gray_files[0]);
  EXPECT_TRUE(torch::equal(gray[0], gray[1]) && torch::equal(gray[1], gray[2]));
  result = run_cyclegan("translate --ckpt run/g_AB.pt data/testA -o colour", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const at::Tensor colour = read_image(list_images(dir_ / "colour")[0]);
  EXPECT_FALSE(torch::equal(colour[0], colour[1]) && torch::equal(colour[1], colour[2]));

  result = run_cyclegan("test --ckpt-dir run -o tested", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string summary = read_file(dir_ / "tested/metrics.csv");
  EXPECT_NE(summary.find("A2B,2,"), std::string::npos) << summary;
  EXPECT_NE(summary.find("n/a"), std::string::npos) << "identity has no meaning here: " << summary;
  EXPECT_NE(result.out.find("n/a"), std::string::npos) << result.out;
}

TEST_F(EndToEnd, ScaleWidthTrainsOnNonSquareImagesTranslatesAndTests) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 4 --test-count 2 --seed 5", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  testing::reshape_images(dir_ / "data/trainA", 40,
                          {60, 50, 72});  // scaled to 32 x 48, 40, 57 -> 56
  testing::reshape_images(dir_ / "data/trainB", 50,
                          {40, 90, 64});  // 32 x 32 (at least the crop), 57 -> 56, 40
  testing::reshape_images(dir_ / "data/testA", 36, {52});
  testing::reshape_images(dir_ / "data/testB", 64, {40});
  result = run_cyclegan(
      "train --set data.root=data --set data.preprocess=scale_width --set data.load_size=32 "
      "--set model.input_dim=32 --set model.generator_type=resnet_6blocks "
      "--set model.gen_n_filters=8 --set model.disc_n_filters=8 --set train.epochs=2 "
      "--set output.dir=run --set output.sample_every=4",
      dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string losses = read_file(dir_ / "run/losses.csv");
  EXPECT_EQ(count_lines(dir_ / "run/losses.csv"), 9) << losses;
  EXPECT_EQ(losses.find("nan"), std::string::npos) << losses;
  // Samples: the first test images scaled to width 32 (A: 32 x 46 -> 48; B: 32 x 20 -> 32, the
  // crop size), each in a cell of the larger size.
  const at::Tensor grid = read_image(dir_ / "run/samples/step_000008.png");
  EXPECT_EQ(grid.size(1), 2 * (48 + 2) + 2);
  EXPECT_EQ(grid.size(2), 4 * (32 + 2) + 2);

  result = run_cyclegan("translate --ckpt run/g_AB.pt data/testA -o translated", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto translated = list_images(dir_ / "translated");
  ASSERT_EQ(translated.size(), 2u);
  EXPECT_EQ(read_image(translated[0]).sizes(), (std::vector<int64_t>{3, 52, 36}));

  result = run_cyclegan("test --ckpt-dir run -o tested", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string summary = read_file(dir_ / "tested/metrics.csv");
  EXPECT_NE(summary.find("A2B,2,"), std::string::npos) << summary;
  EXPECT_NE(summary.find("B2A,2,"), std::string::npos) << summary;
}

TEST_F(EndToEnd, BatchNormTrainsAndTranslatesWithItsRunningStatistics) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 4 --test-count 2 --seed 9", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run_cyclegan(
      "train --set data.root=data --set model.input_dim=32 --set model.norm=batch "
      "--set model.generator_type=resnet_6blocks --set model.gen_n_filters=8 "
      "--set model.disc_n_filters=8 --set train.epochs=1 --set output.dir=run",
      dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run_cyclegan("info run/g_AB.pt", dir_.path());
  EXPECT_NE(result.out.find("norm:         batch"), std::string::npos) << result.out;
  // Eval mode: each image is normalised by the running statistics, never by its batch-mates, so
  // translating the two test images together or one at a time gives the same files.
  for (const std::string batch : {"1", "2"}) {
    result = run_cyclegan(
        "translate --ckpt run/g_AB.pt data/testA --batch-size " + batch + " -o batch" + batch,
        dir_.path());
    ASSERT_EQ(result.exit_code, 0) << result.err;
  }
  const auto one = list_images(dir_ / "batch1");
  const auto two = list_images(dir_ / "batch2");
  ASSERT_EQ(one.size(), 2u);
  ASSERT_EQ(two.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(read_file(one[i]), read_file(two[i])) << one[i];
  result = run_cyclegan("test --ckpt-dir run -o tested", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(read_file(dir_ / "tested/metrics.csv").find("A2B,2,"), std::string::npos);
}

// The fast recipe's generators start as the identity: after a few steps they still return their
// input almost unchanged, through the saved file too; the official recipe's return noise.
TEST_F(EndToEnd, FastRecipeStartsFromTheUnchangedImageAndExportRefusesIt) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 3 --test-count 2 --seed 4", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const std::string recipe : {"official", "fast"}) {
    result = run_cyclegan(
        "train --set data.root=data --set model.input_dim=32 --set "
        "model.generator_type=resnet_6blocks "
        "--set model.gen_n_filters=8 --set model.disc_n_filters=8 --set train.epochs=1 "
        "--set train.recipe=" +
            recipe + " --set output.dir=" + recipe,
        dir_.path());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    result = run_cyclegan(
        "translate --ckpt " + recipe + "/g_AB.pt data/testA -o " + recipe + "_out", dir_.path());
    ASSERT_EQ(result.exit_code, 0) << result.err;
    for (const fs::path& input : list_images(dir_ / "data/testA")) {
      const double decibels =
          psnr(read_image(input), read_image(dir_ / (recipe + "_out") / input.filename()));
      if (recipe == "fast") {
        EXPECT_GT(decibels, 30.0) << input;
      } else {
        EXPECT_LT(decibels, 20.0) << input;
      }
    }
  }
  result = run_cyclegan("info fast/g_AB.pt", dir_.path());
  EXPECT_NE(result.out.find("input skip:   yes"), std::string::npos) << result.out;
  result = run_cyclegan("info official/g_AB.pt", dir_.path());
  EXPECT_NE(result.out.find("input skip:   no"), std::string::npos) << result.out;
  result = run_cyclegan("export fast/g_AB.pt -o fast.pth", dir_.path());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("adds its input to its output"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "fast.pth"));
  result = run_cyclegan("export official/g_AB.pt -o official.pth", dir_.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

TEST_F(EndToEnd, EvalEveryMeasuresTheTestImagesIntoQualityCsvAndTheReport) {
  auto result =
      run_cyclegan("make-data --out data --size 32 --count 4 --test-count 3 --seed 6", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Ground truth for domain A's test images only: the images themselves, so that the PSNR is
  // that of the translation against leaving the image unchanged.
  fs::create_directories(dir_ / "data/testA_gt");
  for (const fs::path& file : list_images(dir_ / "data/testA"))
    fs::copy_file(file, dir_ / "data/testA_gt" / file.filename());
  result = run_cyclegan(
      "train --set data.root=data --set model.input_dim=32 --set model.gen_n_filters=8 "
      "--set model.disc_n_filters=8 --set train.epochs=1 --set train.decay_epochs=1 "
      "--set output.dir=run --set output.eval_every=3 --set output.eval_images=2",
      dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("quality at step 3: A2B: cycle L1"), std::string::npos) << result.err;
  // Steps 3 and 6, and the last (8); two rows each.
  const std::string csv = read_file(dir_ / "run/quality.csv");
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line,
            "step,direction,images,cycle_l1,identity_l1,paired,paired_l1,paired_psnr,"
            "paired_ssim");
  std::vector<std::string> keys;
  std::string last_a2b;
  while (std::getline(lines, line)) {
    keys.push_back(line.substr(0, line.find(',', line.find(',') + 1)));
    if (line.rfind("8,A2B,", 0) == 0) last_a2b = line;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"3,A2B", "3,B2A", "6,A2B", "6,B2A", "8,A2B", "8,B2A"}))
      << csv;
  // A2B: 2 images, 2 pairs; B2A: 2 images, no ground truth (empty fields).
  EXPECT_NE(csv.find("8,A2B,2,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("8,B2A,2,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",0,,,\n"), std::string::npos) << "B2A has no pairs: " << csv;
  const std::string report = read_file(dir_ / "run/report.html");
  EXPECT_NE(report.find("data-chart=\"quality_psnr\""), std::string::npos);
  EXPECT_NE(report.find("data-chart=\"quality_cycle\""), std::string::npos);

  // The last row is what `cyclegan test` measures on the same images with the final generators.
  result = run_cyclegan("test --ckpt-dir run --num-test 2 -o tested", dir_.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string metrics = read_file(dir_ / "tested/metrics.csv");
  std::istringstream fields(last_a2b);
  std::vector<double> training;
  for (std::string field; std::getline(fields, field, ',');) {
    training.push_back(field.empty() || field == "A2B" ? 0 : std::stod(field));
  }
  const auto a2b = metrics.find("A2B,");
  ASSERT_NE(a2b, std::string::npos) << metrics;
  std::istringstream tested_fields(metrics.substr(a2b, metrics.find('\n', a2b) - a2b));
  std::vector<double> tested;
  for (std::string field; std::getline(tested_fields, field, ',');) {
    tested.push_back(field == "A2B" ? 0 : std::stod(field));
  }
  ASSERT_EQ(training.size(), 9u) << last_a2b;
  ASSERT_EQ(tested.size(), 8u) << metrics;  // the same columns without the step
  for (size_t i = 1; i < 8; ++i) {
    EXPECT_NEAR(training[i + 1], tested[i], 1e-4)
        << "column " << i << ": " << last_a2b << " vs " << metrics;
  }
}

TEST_F(EndToEnd, SigintFinishesTheStepCheckpointsAndResumeContinues) {
  ASSERT_EQ(run_cyclegan("make-data --out data --size 32 --count 6 --test-count 1", dir_.path())
                .exit_code,
            0);
  const std::string train_arguments =
      "train --set data.root=data --set model.input_dim=32 --set model.gen_n_filters=8 "
      "--set model.disc_n_filters=8 --set train.max_steps=100000 --set output.dir=run "
      "--set output.checkpoint_every=100000 --set output.sample_every=100000";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string command = "cd '" + dir_.path().string() + "' && exec '" +
                                testing::executable() + "' " + train_arguments + " >'" +
                                (dir_ / "train_out.txt").string() + "' 2>'" +
                                (dir_ / "train_err.txt").string() + "'";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until a few steps are logged, then interrupt mid-run.
  const fs::path csv = dir_ / "run/losses.csv";
  for (int i = 0; i < 600 && count_lines(csv) < 4; ++i) usleep(100000);
  ASSERT_GE(count_lines(csv), 4) << "training did not start";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string err = read_file(dir_ / "train_err.txt");
  EXPECT_NE(err.find("resume with: cyclegan train --resume run"), std::string::npos) << err;
  const int steps = count_lines(csv) - 1;
  EXPECT_EQ(read_network_file(dir_ / "run/g_AB.pt").info.step, steps)
      << "the checkpoint holds the last finished step";
  ASSERT_EQ(list_checkpoints(dir_ / "run").front(), checkpoint_path(dir_ / "run", steps));

  const auto resumed = run_cyclegan(
      "train --resume run --set train.max_steps=" + std::to_string(steps + 2), dir_.path());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(count_lines(csv) - 1, steps + 2);
  EXPECT_NE(resumed.err.find("resuming after step " + std::to_string(steps)), std::string::npos)
      << resumed.err;
}

TEST_F(EndToEnd, MakeDataIsReproducibleAndKeepsAnExistingDataset) {
  ASSERT_EQ(
      run_cyclegan("make-data --out a --size 32 --count 3 --test-count 1", dir_.path()).exit_code,
      0);
  ASSERT_EQ(
      run_cyclegan("make-data --out b --size 32 --count 3 --test-count 1", dir_.path()).exit_code,
      0);
  EXPECT_EQ(read_file(dir_ / "a/trainA/apple_0002.png"),
            read_file(dir_ / "b/trainA/apple_0002.png"));
  const auto again = run_cyclegan("make-data --out a --size 32 --count 3", dir_.path());
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.err.find("keeping it"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace cyclegan
