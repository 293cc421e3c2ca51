// Bad configs, command lines and checkpoints, handed to the real executable: each must give one
// clear error line (what, where, what to do) and the documented exit status (2 for usage and
// configuration errors, 1 for runtime ones), and must leave what was written before intact.
// The test prints the table of inputs, exit codes and messages.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "cyclegan/checkpoint.h"
#include "cyclegan/image_io.h"
#include "cyclegan/networks.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;
using testing::run_cyclegan;

// The first line of stderr that starts with "error:" (or the first line).
std::string error_line(const std::string& err) {
  const auto at = err.find("error:");
  const std::string from = at == std::string::npos ? err : err.substr(at);
  return from.substr(0, from.find('\n'));
}

class CliErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    SyntheticFruitOptions data;
    data.root = *dir_ / "data";
    data.train_per_domain = 4;
    data.test_per_domain = 1;
    data.image_size = 32;
    make_fruit_dataset(data);
    const auto trained =
        run_cyclegan("train --config " + (testing::source_dir() / "configs/smoke.yaml").string() +
                         " --set data.root=data --set output.dir=run --set train.max_steps=2",
                     dir_->path());
    ASSERT_EQ(trained.exit_code, 0) << trained.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // Runs, checks the exit status and that the message holds `expected`, and prints the row.
  void expect_error(const std::string& what, const std::string& arguments, int exit_code,
                    const std::string& expected, const std::string& shell_prefix = "") {
    const auto result = run_cyclegan(arguments, dir_->path(), shell_prefix);
    const std::string line = error_line(result.err);
    EXPECT_EQ(result.exit_code, exit_code) << what << "\n" << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << what << "\n" << result.err;
    std::cout << "| " << what << " | " << result.exit_code << " | " << line << " |\n";
  }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(*dir_ / name) << text;
    return *dir_ / name;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* CliErrors::dir_ = nullptr;

TEST_F(CliErrors, BadConfigs) {
  write("not_yaml.yaml", "data: [unclosed\n  model: {");
  write("empty.yaml", "");
  write("list.yaml", "- data\n- model\n");
  write("typo.yaml", "model:\n  generatr_type: unet\n");
  write("type.yaml", "train:\n  epochs: ten\n");
  const std::string base = "train --set data.root=data --set output.dir=fresh ";
  expect_error("config is not YAML", "train --config not_yaml.yaml", 2, "not_yaml.yaml");
  expect_error("empty config file", "train --config empty.yaml", 2, "empty.yaml");
  expect_error("YAML list instead of a map", "train --config list.yaml", 2, "list.yaml");
  expect_error("unknown key", "train --config typo.yaml", 2, "did you mean 'model.generator_type'");
  expect_error("wrong type", "train --config type.yaml", 2, "train.epochs");
  expect_error("negative lambda", base + "--set train.lambda_id=-1", 2, "train.lambda_id");
  expect_error("negative learning rate", base + "--set train.learning_rate=-0.1", 2,
               "train.learning_rate");
  expect_error("zero image size", base + "--set model.input_dim=0", 2, "model.input_dim");
  expect_error("size the generator cannot take",
               base + "--set model.generator_type=resnet_9blocks --set model.input_dim=130", 2,
               "multiple of 4");
  expect_error("unknown generator", base + "--set model.generator_type=transformer", 2,
               "transformer");
  expect_error("unknown device", base + "--set train.device=tpu", 2, "train.device");
  expect_error(
      "unknown init type", base + "--set model.init_type=uniform", 2,
      "key 'model.init_type' must be normal, xavier, kaiming or orthogonal, got 'uniform'");
  expect_error("unknown gan mode", base + "--set train.gan_mode=hinge", 2,
               "key 'train.gan_mode' must be lsgan, vanilla or wgangp, got 'hinge'");
  expect_error("unknown learning-rate policy", base + "--set train.lr_policy=exponential", 2,
               "key 'train.lr_policy' must be linear, step, plateau or cosine, got 'exponential'");
  expect_error("unknown recipe", base + "--set train.recipe=quick", 2,
               "key 'train.recipe' must be official or fast, got 'quick'");
  expect_error("unknown norm", base + "--set model.norm=group", 2,
               "key 'model.norm' must be instance, batch or none, got 'group'");
  expect_error("unknown preprocess", base + "--set data.preprocess=resize", 2,
               "key 'data.preprocess' must be resize_and_crop, crop, scale_width, "
               "scale_width_and_crop or none, got 'resize'");
  expect_error("gradient penalty across image shapes",
               base + "--set data.preprocess=none --set train.gan_mode=wgangp", 2,
               "key 'train.lambda_gp' must be 0 with data.preprocess none and a history pool");
  if (!torch::cuda::is_available()) {
    expect_error("cuda without a GPU", base + "--set train.device=cuda", 2,
                 "no CUDA device is available");
  }
  expect_error("output.dir holds another run", "train --set data.root=data --set output.dir=run", 2,
               "already holds a run");
  expect_error("unwritable output.dir",
               "train --set data.root=data --set output.dir=/proc/cyclegan_run", 1,
               "cannot create run directory");
  expect_error("data folder missing", "train --set data.root=nowhere --set output.dir=fresh2", 1,
               "image folder not found");
}

TEST_F(CliErrors, BadCommandLines) {
  expect_error("unknown flag", "train --no-such-flag", 2, "--no-such-flag");
  expect_error("missing value", "train --config", 2, "--config");
  expect_error(
      "contradictory options",
      "train --config " + (testing::source_dir() / "configs/smoke.yaml").string() + " --resume run",
      2, "excludes");
  expect_error("nonexistent input", "translate --ckpt run/g_AB.pt missing.png", 2, "missing.png");
  expect_error("nonexistent checkpoint", "translate --ckpt missing.pt data/testA", 2, "missing.pt");
  expect_error("no subcommand", "", 2, "subcommand");
  // An unknown flag is named before a missing required option or a bad positional.
  expect_error("unknown flag, required option missing", "translate --no-such-flag", 2,
               "not expected: --no-such-flag");
  expect_error("unknown flag, missing input", "translate --no-such-flag x.png", 2,
               "not expected: --no-such-flag");
  expect_error("unknown flag with a value", "info --no-such=3 run/g_AB.pt", 2,
               "not expected: --no-such (not an option of 'cyclegan info')");
  expect_error("negative count", "test --ckpt-dir run --num-test -2", 2,
               "--num-test: must be >= 0, got -2");
  expect_error("zero ratio", "test --ckpt-dir run --aspect-ratio 0", 2,
               "--aspect-ratio: must be > 0, got 0");
  expect_error("not a number", "translate --ckpt run/g_AB.pt --batch-size many data/testA", 2,
               "--batch-size");
}

TEST_F(CliErrors, GlobalFlagsWorkAfterTheSubcommandToo) {
  const std::vector<std::string> placements = {"-q translate", "translate --quiet", "translate -q"};
  for (size_t i = 0; i < placements.size(); ++i) {
    const auto result =
        run_cyclegan(placements[i] + " --ckpt run/g_AB.pt data/testA -o quiet_" + std::to_string(i),
                     dir_->path());
    EXPECT_EQ(result.exit_code, 0) << placements[i] << "\n" << result.err;
    EXPECT_EQ(result.err.find(" info "), std::string::npos) << placements[i] << ": not quiet\n"
                                                            << result.err;
  }
  const auto verbose = run_cyclegan("info run/g_AB.pt --verbose", dir_->path());
  EXPECT_EQ(verbose.exit_code, 0) << verbose.err;
}

TEST_F(CliErrors, BadCheckpoints) {
  const fs::path good = *dir_ / "run/g_AB.pt";
  fs::copy_file(good, *dir_ / "truncated.pt", fs::copy_options::overwrite_existing);
  fs::resize_file(*dir_ / "truncated.pt", fs::file_size(good) / 2);
  write("zero.pt", "");
  write("text.pt", "these are not the weights you are looking for\n");
  fs::copy_file(list_images(*dir_ / "data/testA").front(), *dir_ / "image.pt",
                fs::copy_options::overwrite_existing);
  // The same file claiming a format version from the future.
  {
    std::ifstream stream(good, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(stream)),
                            std::istreambuf_iterator<char>());
    auto file = torch::pickle_load(bytes).toGenericDict();
    file.insert_or_assign("format_version", int64_t{99});
    const std::vector<char> future = torch::pickle_save(c10::IValue(file));
    std::ofstream(*dir_ / "future.pt", std::ios::binary).write(future.data(), future.size());
  }
  const std::string input = " data/testA";
  expect_error("truncated checkpoint", "translate --ckpt truncated.pt" + input, 1, "truncated.pt");
  expect_error("zero-byte checkpoint", "translate --ckpt zero.pt" + input, 1, "zero.pt");
  expect_error("text file as checkpoint", "translate --ckpt text.pt" + input, 1, "text.pt");
  expect_error("image as checkpoint", "translate --ckpt image.pt" + input, 1, "image.pt");
  expect_error("discriminator as generator", "translate --ckpt run/d_A.pt" + input, 1,
               "discriminator");
  expect_error("newer format version", "translate --ckpt future.pt" + input, 1, "upgrade");
  expect_error("--arch contradicting one of our files",
               "translate --ckpt run/g_AB.pt --arch resnet_9blocks" + input, 1,
               "holds a unet generator, not resnet_9blocks");
  // A PyTorch state_dict of a resnet_6blocks generator with 8 filters, read with other settings.
  {
    auto resnet = make_generator(GeneratorOptions().architecture("resnet_6blocks").ngf(8));
    export_state_dict(*dir_ / "resnet6.pth", *resnet);
  }
  expect_error("PyTorch file of another architecture",
               "translate --ckpt resnet6.pth --arch resnet_9blocks --ngf 8" + input, 1, "missing");
  expect_error("PyTorch file with other filters",
               "translate --ckpt resnet6.pth --arch resnet_6blocks --ngf 16" + input, 1, "shape");
  // Every checkpoint of a run damaged: resume names each and gives up.
  fs::create_directories(*dir_ / "damaged");
  fs::copy(*dir_ / "run", *dir_ / "damaged", fs::copy_options::recursive);
  for (const fs::path& state : list_checkpoints(*dir_ / "damaged")) fs::resize_file(state, 10);
  expect_error("all checkpoints truncated on resume", "train --resume damaged", 1,
               "no checkpoint could be loaded");
}

TEST_F(CliErrors, AFullDiskKeepsThePreviousCheckpointAndLeavesNoPartialFile) {
  const fs::path run = *dir_ / "run";
  const fs::path newest = list_checkpoints(run).front();
  const auto size_before = fs::file_size(newest);
  // Files may grow to 64 KiB: the next checkpoint cannot be written. SIGXFSZ is ignored so the
  // write fails with EFBIG, as on a full disk it fails with ENOSPC.
  const std::string limit = "trap '' XFSZ; ulimit -f 64; ";
  expect_error("file size limit while checkpointing", "train --resume run --set train.max_steps=4",
               1, "cannot write", limit);
  EXPECT_EQ(list_checkpoints(run).front(), newest);
  EXPECT_EQ(fs::file_size(newest), size_before);
  Trainer probe(load_train_config(run / "config.yaml"));
  EXPECT_NO_THROW(probe.load_state(newest));
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }

  // An output image that cannot be written is reported and never left half-written.
  expect_error("file size limit while translating",
               "translate --ckpt run/g_AB.pt data/testA --resize 256 -o big_out", 1,
               "cannot write image", "trap '' XFSZ; ulimit -f 8; ");
  for (const auto& entry : fs::directory_iterator(*dir_ / "big_out")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

}  // namespace
}  // namespace cyclegan
