// Exact resume: N steps straight and N/2 + resume + N/2 give bit-identical networks and the
// same losses.csv rows.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"
#include "cyclegan/losses.h"
#include "cyclegan/networks.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"
#include "kernels/kernels.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

// losses.csv without the timing column, which differs from run to run.
std::vector<std::string> loss_rows(const fs::path& csv) {
  std::ifstream stream(csv);
  std::vector<std::string> rows;
  for (std::string line; std::getline(stream, line);)
    rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticFruitOptions data;
    data.root = dir_ / "data";
    data.train_per_domain = 5;
    data.test_per_domain = 1;
    data.image_size = 32;
    make_fruit_dataset(data);
    config_.data_root = (dir_ / "data").string();
    config_.input_dim = 32;
    config_.gen_n_filters = 8;
    config_.disc_n_filters = 8;
    config_.pool_size = 3;  // the pool fills and starts drawing from history before the stop
    config_.seed = 11;
    config_.threads = 2;
    config_.device = "cpu";
    config_.epochs = 2;
    config_.decay_epochs = 2;  // the stop falls inside the decay, mid-epoch
    config_.sample_every = 0;
    config_.checkpoint_every = 0;
    config_.log_every = 100;
  }
  testing::TempDir dir_;
  TrainConfig config_;
};

// Trains `steps` straight, and `stop_at` + resume + the rest from the same config, and expects
// the same networks and losses.csv rows. The defaults stop 4 epochs of 5 steps at 16, in epoch 3
// (decaying rate), step 3 of 5.
void expect_resume_bit_identical(const TrainConfig& config, const fs::path& dir, int64_t steps = 16,
                                 int64_t stop_at = 13) {
  TrainConfig straight = config;
  straight.output_dir = (dir / "straight").string();
  straight.max_steps = steps;
  Trainer straight_trainer(straight);
  straight_trainer.run();

  TrainConfig first_half = config;
  first_half.output_dir = (dir / "resumed").string();
  first_half.max_steps = stop_at;
  Trainer(first_half).run();

  TrainConfig second_half = first_half;
  second_half.max_steps = steps;
  Trainer resumed(second_half);
  EXPECT_EQ(resumed.resume(), checkpoint_path(dir / "resumed", stop_at));
  EXPECT_EQ(resumed.steps_done(), stop_at);
  resumed.run();

  auto expect_identical = [](const torch::nn::Module& a, const torch::nn::Module& b,
                             const char* name) {
    const StateDict pa = state_dict(a);  // parameters and buffers (batch norm's statistics)
    const StateDict pb = state_dict(b);
    ASSERT_EQ(pa.size(), pb.size());
    for (const auto& item : pa) {
      EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << name << " " << item.key();
    }
  };
  expect_identical(*straight_trainer.g_ab(), *resumed.g_ab(), "g_ab");
  expect_identical(*straight_trainer.g_ba(), *resumed.g_ba(), "g_ba");
  expect_identical(*straight_trainer.d_a(), *resumed.d_a(), "d_a");
  expect_identical(*straight_trainer.d_b(), *resumed.d_b(), "d_b");
  const auto straight_rows = loss_rows(dir / "straight/losses.csv");
  EXPECT_EQ(straight_rows.size(), static_cast<size_t>(steps + 1));
  EXPECT_EQ(loss_rows(dir / "resumed/losses.csv"), straight_rows);
}

TEST_F(Resume, HalfThenResumeIsBitIdenticalToStraight) {
  expect_resume_bit_identical(config_, dir_.path());
}

// oneDNN's bf16 kernels are as deterministic as the float32 path.
TEST_F(Resume, Bf16HalfThenResumeIsBitIdenticalToStraight) {
  if (!kernels::bf16_available()) GTEST_SKIP() << "no AVX512-BF16 / AMX, or no oneDNN API";
  config_.precision = "bf16";
  expect_resume_bit_identical(config_, dir_.path());
}

// Plateau's state (best loss, epochs without improvement, the open epoch's losses) travels in the
// checkpoint. With every generator weight 0 the generator loss is a constant 0, the official
// trainer's plateau metric: the rate falls x0.2 after epoch 7, and the run stops two steps later.
TEST_F(Resume, PlateauHalfThenResumeIsBitIdenticalToStraight) {
  config_.lr_policy = "plateau";
  config_.epochs = 8;  // 5 steps each
  config_.decay_epochs = 0;
  config_.lambda_validation = 0;
  config_.lambda_reconstr = 0;
  config_.lambda_id = 0;
  expect_resume_bit_identical(config_, dir_.path(), 39, 37);
  const auto rows = loss_rows(dir_ / "straight/losses.csv");
  auto rate_of = [](const std::string& row) { return std::stod(row.substr(row.rfind(',') + 1)); };
  EXPECT_DOUBLE_EQ(rate_of(rows[35]), config_.learning_rate);  // step 35 ends epoch 7
  EXPECT_DOUBLE_EQ(rate_of(rows[36]), config_.learning_rate * 0.2);
  EXPECT_DOUBLE_EQ(rate_of(rows[39]), config_.learning_rate * 0.2);
}

// WGAN-GP's mixing weights are drawn from the seed and the step: a resumed run mixes the same.
TEST_F(Resume, WgangpHalfThenResumeIsBitIdenticalToStraight) {
  config_.gan_mode = "wgangp";
  expect_resume_bit_identical(config_, dir_.path());
}

// Each gan_mode reaches the trainer's step: its first discriminator losses are the objective's,
// computed by hand on the initial networks (the fakes come from the generators before their
// update); with wgangp a gradient penalty adds to them.
TEST_F(Resume, EveryGanModeReachesTheDiscriminatorLosses) {
  torch::manual_seed(5);
  const at::Tensor a = torch::rand({1, 3, 32, 32}) * 2 - 1;
  const at::Tensor b = torch::rand({1, 3, 32, 32}) * 2 - 1;
  for (const std::string mode : {"lsgan", "vanilla", "wgangp"}) {
    for (const double lambda_gp : {0.0, 10.0}) {
      if (mode != "wgangp" && lambda_gp > 0) continue;
      TrainConfig config = config_;
      config.gan_mode = mode;
      config.lambda_gp = lambda_gp;
      Trainer trainer(config);
      double by_hand_a = 0;
      double by_hand_b = 0;
      {
        torch::NoGradGuard no_grad;
        const GanMode gan_mode = gan_mode_from_name(mode);
        by_hand_a = discriminator_loss(trainer.d_a()->forward(a),
                                       trainer.d_a()->forward(trainer.g_ba()->forward(b)), gan_mode)
                        .item<double>();
        by_hand_b = discriminator_loss(trainer.d_b()->forward(b),
                                       trainer.d_b()->forward(trainer.g_ab()->forward(a)), gan_mode)
                        .item<double>();
      }
      const StepLosses losses = trainer.step(a, b);
      EXPECT_TRUE(std::isfinite(losses.g_total)) << mode;
      if (lambda_gp == 0) {
        EXPECT_NEAR(losses.d_a, by_hand_a, 1e-4 * std::max(1.0, std::abs(by_hand_a))) << mode;
        EXPECT_NEAR(losses.d_b, by_hand_b, 1e-4 * std::max(1.0, std::abs(by_hand_b))) << mode;
      } else {
        EXPECT_GT(losses.d_a, by_hand_a + 1e-3) << "the penalty adds to D_A's loss";
        EXPECT_GT(losses.d_b, by_hand_b + 1e-3) << "the penalty adds to D_B's loss";
      }
    }
  }
}

// The official --lambda_A 10 --lambda_B 5 --lambda_identity 0.5: cycle A weighs 10, cycle B 5,
// the identity on B images (official idt_A) 5 x 0.5 and the one on A images 10 x 0.5. Ours:
// lambda_reconstr_a / _b, and lambda_id 5 at lambda_reconstr 10.
TEST_F(Resume, PerDirectionCycleWeightsWeighTheObjectiveAsTheOfficialTrainer) {
  torch::manual_seed(5);
  const at::Tensor a = torch::rand({1, 3, 32, 32}) * 2 - 1;
  const at::Tensor b = torch::rand({1, 3, 32, 32}) * 2 - 1;
  TrainConfig config = config_;
  config.lambda_reconstr = 10;
  config.lambda_reconstr_a = 10;
  config.lambda_reconstr_b = 5;
  config.lambda_id = 5;
  Trainer trainer(config);
  double by_hand = 0;
  {
    torch::NoGradGuard no_grad;
    auto l1 = [](const at::Tensor& x, const at::Tensor& y) { return (x - y).abs().mean(); };
    const at::Tensor fake_b = trainer.g_ab()->forward(a);
    const at::Tensor fake_a = trainer.g_ba()->forward(b);
    const at::Tensor total =
        gan_mse_loss(trainer.d_b()->forward(fake_b), 1.0) +
        gan_mse_loss(trainer.d_a()->forward(fake_a), 1.0) +
        10 * l1(trainer.g_ba()->forward(fake_b), a) + 5 * l1(trainer.g_ab()->forward(fake_a), b) +
        5 * 0.5 * l1(trainer.g_ab()->forward(b), b) + 10 * 0.5 * l1(trainer.g_ba()->forward(a), a);
    by_hand = total.item<double>();
  }
  const StepLosses losses = trainer.step(a, b);
  EXPECT_NEAR(losses.g_total, by_hand, 1e-4 * by_hand);
}

TEST_F(Resume, PixelDiscriminatorHalfThenResumeIsBitIdenticalToStraight) {
  config_.disc_type = "pixel";
  expect_resume_bit_identical(config_, dir_.path());
}

TEST_F(Resume, ScaleWidthHalfThenResumeIsBitIdenticalToStraight) {
  // Batches of varying shapes, and a history pool holding fakes of several shapes.
  testing::reshape_images(dir_ / "data/trainA", 40, {60, 50, 72, 44});
  testing::reshape_images(dir_ / "data/trainB", 48, {36, 80, 64});
  config_.preprocess = "scale_width";
  config_.generator_type = "resnet_6blocks";
  expect_resume_bit_identical(config_, dir_.path());
}

TEST_F(Resume, BatchNormAndNormFreeHalfThenResumeIsBitIdenticalToStraight) {
  config_.generator_type = "resnet_6blocks";
  for (const std::string norm : {"batch", "none"}) {
    config_.norm = norm;
    expect_resume_bit_identical(config_, dir_ / norm);
  }
}

TEST_F(Resume, FastRecipeHalfThenResumeIsBitIdenticalToStraight) {
  config_.generator_type = "resnet_6blocks";
  config_.recipe = "fast";
  expect_resume_bit_identical(config_, dir_.path());
}

// Batch norm: each pass of a step normalises by its own images, and each network takes its
// inputs in the official trainer's order, so the running statistics come out as the official
// trainer's: G_AB sees a, G_AB(G_BA(b)) then b; G_BA sees G_AB(a), b then a; each discriminator
// its fake in the generators' half, then real, then the pooled fake.
TEST_F(Resume, BatchNormRunningStatisticsFollowTheOfficialOrderOfPasses) {
  torch::manual_seed(5);
  const at::Tensor a = torch::rand({1, 3, 32, 32}) * 2 - 1;
  const at::Tensor b = torch::rand({1, 3, 32, 32}) * 2 - 1;
  TrainConfig config = config_;
  config.norm = "batch";
  config.generator_type = "resnet_6blocks";
  config.lambda_id = 5;
  Trainer trainer(config);
  auto twin_generator = [&](const torch::nn::Module& source) {
    GeneratorPtr twin = make_generator(
        GeneratorOptions().architecture("resnet_6blocks").ngf(config.gen_n_filters).norm("batch"));
    load_state_dict(*twin, state_dict(source), "twin");
    twin->train();
    return twin;
  };
  auto twin_discriminator = [&](const torch::nn::Module& source) {
    PatchDiscriminator twin(PatchDiscriminatorOptions().ndf(config.disc_n_filters).norm("batch"));
    load_state_dict(*twin, state_dict(source), "twin");
    twin->train();
    return twin;
  };
  GeneratorPtr g_ab = twin_generator(*trainer.g_ab());
  GeneratorPtr g_ba = twin_generator(*trainer.g_ba());
  PatchDiscriminator d_a = twin_discriminator(*trainer.d_a());
  PatchDiscriminator d_b = twin_discriminator(*trainer.d_b());
  {
    torch::NoGradGuard no_grad;
    // The official forward() and backward_G: the pool, still filling, returns each fake as it is.
    const at::Tensor fake_b = g_ab->forward(a);
    g_ba->forward(fake_b);
    const at::Tensor fake_a = g_ba->forward(b);
    g_ab->forward(fake_a);
    g_ab->forward(b);
    g_ba->forward(a);
    d_b->forward(fake_b);
    d_a->forward(fake_a);
    d_b->forward(b);  // backward_D_A: real, then fake
    d_b->forward(fake_b);
    d_a->forward(a);
    d_a->forward(fake_a);
  }
  trainer.step(a, b);
  const std::vector<std::pair<std::string, std::pair<torch::nn::Module*, torch::nn::Module*>>>
      networks = {{"g_AB", {trainer.g_ab().get(), g_ab.get()}},
                  {"g_BA", {trainer.g_ba().get(), g_ba.get()}},
                  {"d_A", {trainer.d_a().get(), d_a.get()}},
                  {"d_B", {trainer.d_b().get(), d_b.get()}}};
  for (const auto& [name, pair] : networks) {
    const StateDict trained = state_dict(*pair.first);
    const StateDict official = state_dict(*pair.second);
    double worst = 0;
    int64_t statistics = 0;
    for (const auto& item : official) {
      if (item.key().find("num_batches_tracked") != std::string::npos) {
        EXPECT_EQ(trained[item.key()].item<int64_t>(), 3) << name << " " << item.key();
      } else if (item.key().find("running_") != std::string::npos) {
        worst = std::max(worst, (trained[item.key()] - item.value()).abs().max().item<double>());
        ++statistics;
      }
    }
    EXPECT_GT(statistics, 0) << name;
    EXPECT_LE(worst, 1e-5) << name << ": running statistics differ from the official order's";
  }
}

TEST_F(Resume, TruncatedStateIsAClearError) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.max_steps = 2;
  Trainer(config).run();
  const fs::path state = checkpoint_path(dir_ / "run", 2);
  fs::resize_file(state, fs::file_size(state) / 2);
  Trainer trainer(config);
  try {
    trainer.load_state(state);
    FAIL() << "a truncated state loaded";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("step_00000002.pt"), std::string::npos) << e.what();
  }
}

TEST_F(Resume, ADamagedNewestCheckpointFallsBackToThePreviousOne) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.max_steps = 4;
  config.checkpoint_every = 2;
  Trainer(config).run();
  ASSERT_EQ(
      list_checkpoints(dir_ / "run"),
      (std::vector<fs::path>{checkpoint_path(dir_ / "run", 4), checkpoint_path(dir_ / "run", 2)}));
  fs::resize_file(checkpoint_path(dir_ / "run", 4), 100);
  {
    Trainer trainer(config);
    EXPECT_EQ(trainer.resume(), checkpoint_path(dir_ / "run", 2));
    EXPECT_EQ(trainer.steps_done(), 2);
    // The generator files now match the checkpoint resumed from, and so do the loss rows.
    EXPECT_EQ(load_generator(dir_ / "run/g_AB.pt").info.step, 2);
    EXPECT_EQ(loss_rows(dir_ / "run/losses.csv").size(), 3u);
  }

  fs::resize_file(checkpoint_path(dir_ / "run", 2), 0);
  Trainer none_left(config);
  try {
    none_left.resume();
    FAIL() << "resumed from damaged checkpoints";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint could be loaded"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("step_00000004.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("step_00000002.pt"), std::string::npos) << e.what();
  }
}

TEST_F(Resume, RowsAfterTheCheckpointAndAHalfWrittenRowAreDropped) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.max_steps = 3;
  Trainer(config).run();
  // As if the process had gone on to step 5 and died in the middle of writing row 6.
  std::ofstream(dir_ / "run/losses.csv", std::ios::app)
      << "4,1,1,1,1,1,1,1,0.0002,0.1\n5,1,1,1,1,1,1,1,0.0002,0.1\n6,1,0.5";
  Trainer trainer(config);
  trainer.resume();
  const auto rows = loss_rows(dir_ / "run/losses.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.back().substr(0, 2), "3,");
}

TEST_F(Resume, RetentionKeepsTheNewestAndEveryKthEpoch) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.epochs = 6;  // 5 steps per epoch
  config.decay_epochs = 0;
  config.max_steps = 28;
  config.checkpoint_every = 2;
  config.keep_checkpoints = 2;
  config.keep_every_epochs = 2;
  Trainer(config).run();
  // Newest two (28, 26) and the ends of epochs 2 and 4 (steps 10 and 20).
  EXPECT_EQ(list_checkpoints(dir_ / "run"),
            (std::vector<fs::path>{
                checkpoint_path(dir_ / "run", 28), checkpoint_path(dir_ / "run", 26),
                checkpoint_path(dir_ / "run", 20), checkpoint_path(dir_ / "run", 10)}));
  EXPECT_EQ(load_generator(dir_ / "run/g_BA.pt").info.step, 28);
}

TEST_F(Resume, ANonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.max_steps = 2;
  Trainer(config).run();
  const auto good_size = fs::file_size(checkpoint_path(dir_ / "run", 2));

  config.max_steps = 4;
  Trainer trainer(config);
  trainer.resume();
  {
    torch::NoGradGuard no_grad;
    trainer.g_ab()->parameters().front().fill_(std::numeric_limits<float>::quiet_NaN());
  }
  try {
    trainer.run();
    FAIL() << "trained on with NaN weights";
  } catch (const TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("step 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("loss term 'g_"), std::string::npos) << e.what();
  }
  EXPECT_EQ(list_checkpoints(dir_ / "run"),
            (std::vector<fs::path>{checkpoint_path(dir_ / "run", 2)}));
  EXPECT_EQ(fs::file_size(checkpoint_path(dir_ / "run", 2)), good_size);
  const LoadedGenerator saved = load_generator(dir_ / "run/g_AB.pt");
  EXPECT_EQ(saved.info.step, 2);
  for (const auto& parameter : saved.generator->parameters()) {
    EXPECT_TRUE(torch::isfinite(parameter).all().item<bool>());
  }
}

TEST_F(Resume, TwoTrainersCannotShareARunDirectory) {
  TrainConfig config = config_;
  config.output_dir = (dir_ / "run").string();
  config.max_steps = 1;
  Trainer first(config);
  first.run();  // keeps holding the directory
  try {
    Trainer(config).run();
    FAIL() << "a second trainer wrote into a locked run directory";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another cyclegan process"), std::string::npos)
        << e.what();
  }
}

TEST(ResumeOverrides, OnlyKeysThatCannotChangeResultsMayChange) {
  TrainConfig config;
  EXPECT_NO_THROW(apply_override(config, "train.max_steps=100", true));
  EXPECT_NO_THROW(apply_override(config, "output.log_every=5", true));
  EXPECT_NO_THROW(apply_override(config, "threads=1", true));
  EXPECT_NO_THROW(apply_override(config, "train.cuda_graphs=false", true));
  try {
    apply_override(config, "train.learning_rate=0.1", true);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot change when resuming"), std::string::npos);
  }
  EXPECT_THROW(apply_override(config, "model.gen_n_filters=16", true), ConfigError);
}

}  // namespace
}  // namespace cyclegan
