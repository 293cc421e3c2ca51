// Crash safety: `cyclegan train` is killed with SIGKILL at moments chosen from its observed
// progress (after a random number of new checkpoints; every other trial then in the middle of a
// file write), again and again over one run (each trial resumes the run the previous one
// killed), so the test means the same on a machine of any speed or load. After every kill the
// newest checkpoint and the network files must load, progress must never go backwards, and the run
// must finally resume to completion with one losses.csv row per step.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cyclegan/checkpoint.h"
#include "cyclegan/config.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

// Temporaries of write_file_atomically() left by the kill: the kill hit a write.
bool has_temporary_files(const fs::path& run_dir) {
  const std::regex temporary(".*\\.tmp[0-9]+");
  for (const char* sub : {"", "checkpoints", "samples"}) {
    std::error_code error;
    for (fs::directory_iterator it(run_dir / sub, error), end; !error && it != end;
         it.increment(error)) {
      if (std::regex_match(it->path().filename().string(), temporary)) return true;
    }
  }
  return false;
}

// The step of the newest complete checkpoint (0 when there is none).
int64_t newest_checkpoint_step(const fs::path& run_dir) {
  const auto checkpoints = list_checkpoints(run_dir);
  return checkpoints.empty() ? 0 : checkpoint_step(checkpoints.front());
}

// False once `pid` has ended (it is then reaped), with its exit status in `exit_code`.
bool still_running(pid_t pid, int* exit_code) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == 0) return true;
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

std::vector<int64_t> loss_steps(const fs::path& csv) {
  std::ifstream stream(csv);
  std::vector<int64_t> steps;
  std::string line;
  std::getline(stream, line);  // header
  while (std::getline(stream, line)) steps.push_back(std::stoll(line.substr(0, line.find(','))));
  return steps;
}

// Kills one run `trials` times (CYCLEGAN_KILL_TRIALS overrides) after `options` have set the
// configuration and the data under dir/data up.
void kill_and_resume(
    const std::string& name, int trials,
    const std::function<void(const fs::path& data, TrainConfig& config)>& options) {
  if (std::getenv("CYCLEGAN_KILL_TRIALS") != nullptr)
    trials = std::atoi(std::getenv("CYCLEGAN_KILL_TRIALS"));
  testing::TempDir dir;
  SyntheticFruitOptions data;
  data.root = dir / "data";
  data.train_per_domain = 6;
  data.test_per_domain = 1;
  data.image_size = 32;
  make_fruit_dataset(data);

  TrainConfig config;
  config.data_root = (dir / "data").string();
  config.input_dim = 32;
  config.gen_n_filters = 8;
  config.disc_n_filters = 8;
  config.pool_size = 4;
  config.device = "cpu";
  config.threads = 1;  // leaves a core to this process's timer
  config.epochs = 1000;
  config.log_every = 1;
  config.sample_every = 3;
  config.checkpoint_every = 1;  // checkpoints all the time: many kills land inside a write
  config.output_dir = (dir / "run").string();
  options(dir / "data", config);
  const fs::path config_file = dir / "config.yaml";
  std::ofstream(config_file) << to_yaml(config);
  const fs::path run_dir = dir / "run";

  std::mt19937 random(20261129);
  std::uniform_int_distribution<int64_t> new_checkpoints(1, 3);
  int killed_mid_write = 0;
  int checkpoints_loaded = 0;
  int64_t newest_step = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const bool resuming = !list_checkpoints(run_dir).empty();
    const pid_t pid = testing::spawn_cyclegan(
        resuming
            ? std::vector<std::string>{"train", "--resume", run_dir.string()}
            : std::vector<std::string>{"train", "--config", config_file.string(), "--overwrite"},
        dir / "train.log");
    ASSERT_GT(pid, 0);
    int exit_code = -1;
    auto wait_until = [&](auto observed, std::chrono::microseconds poll) {
      bool running = true;
      while ((running = still_running(pid, &exit_code)) && !observed()) {
        std::this_thread::sleep_for(poll);
      }
      return running;
    };
    const int64_t target = newest_step + new_checkpoints(random);
    bool running = wait_until([&] { return newest_checkpoint_step(run_dir) >= target; },
                              std::chrono::milliseconds(1));
    if (running && trial % 2 == 1) {
      // Every other trial aims at a write: kill as soon as a temporary file shows up.
      running = wait_until(
          [&] {
            return has_temporary_files(run_dir) || newest_checkpoint_step(run_dir) >= target + 3;
          },
          std::chrono::microseconds(200));
    }
    ASSERT_TRUE(running) << "trial " << trial << " ended by itself (exit status " << exit_code
                         << ") before the kill; see " << (dir / "train.log").string();
    kill(pid, SIGKILL);
    EXPECT_EQ(testing::wait_exit_code(pid), 128 + SIGKILL)
        << "trial " << trial << " ended before the kill";
    if (has_temporary_files(run_dir)) ++killed_mid_write;

    const auto checkpoints = list_checkpoints(run_dir);
    ASSERT_FALSE(checkpoints.empty()) << "trial " << trial << ": the checkpoints are gone";
    Trainer probe(load_train_config(run_dir / "config.yaml"));
    try {
      probe.load_state(checkpoints.front());
      ++checkpoints_loaded;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": newest checkpoint does not load: " << e.what();
    }
    EXPECT_GE(probe.steps_done(), newest_step) << "trial " << trial << " lost progress";
    newest_step = std::max(newest_step, probe.steps_done());
    for (const char* name : {"g_AB.pt", "g_BA.pt", "d_A.pt", "d_B.pt"}) {
      if (!fs::exists(run_dir / name)) continue;
      EXPECT_NO_THROW(read_network_file(run_dir / name)) << "trial " << trial << ": " << name;
    }
  }

  // The last word: resume and finish three steps after the newest checkpoint.
  const int64_t final_step = newest_step + 3;
  const pid_t pid = testing::spawn_cyclegan({"train", "--resume", run_dir.string(), "--set",
                                             "train.max_steps=" + std::to_string(final_step)},
                                            dir / "train.log");
  EXPECT_EQ(testing::wait_exit_code(pid), 0) << "resume after the last kill failed; see the log";
  std::vector<int64_t> expected(static_cast<size_t>(final_step));
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int64_t>(i) + 1;
  EXPECT_EQ(loss_steps(run_dir / "losses.csv"), expected) << "one row per step, in order";
  EXPECT_EQ(read_network_file(run_dir / "g_AB.pt").info.step, final_step);
  EXPECT_FALSE(has_temporary_files(run_dir)) << "a resumed run cleans up killed writes";

  std::cout << "kill harness (" << name << "): " << trials << " SIGKILL trials, "
            << killed_mid_write << " hit a file write; the newest checkpoint loaded after "
            << checkpoints_loaded << " of them; failures "
            << (::testing::Test::HasFailure() ? "some, see above" : "0") << "; resumed to step "
            << final_step << "\n";
}

TEST(KillHarness, EveryKillLeavesALoadableCheckpointAndTheRunResumes) {
  kill_and_resume("defaults", 20, [](const fs::path&, TrainConfig&) {});
}

// The official trainer's other options, whose state (batch-norm statistics, plateau's schedule,
// history pools of images of several shapes) must survive the kills as well.
TEST(KillHarness, OfficialOptionsSurviveTheKillsToo) {
  kill_and_resume("batch norm, scale_width, pixel, vanilla, plateau, 1 -> 3 channels", 10,
                  [](const fs::path& data, TrainConfig& config) {
                    testing::reshape_images(data / "trainA", 40, {60, 48, 72});
                    testing::reshape_images(data / "trainB", 36, {50, 30});
                    config.preprocess = "scale_width";
                    config.generator_type = "resnet_6blocks";
                    config.norm = "batch";
                    config.disc_type = "pixel";
                    config.gan_mode = "vanilla";
                    config.lr_policy = "plateau";
                    config.init_type = "xavier";
                    config.input_nc = 1;
                    config.lambda_id = 0;
                    config.lambda_reconstr_b = 5;
                  });
  kill_and_resume("no norm, crop, wgangp, cosine, BtoA", 10,
                  [](const fs::path&, TrainConfig& config) {
                    config.preprocess = "crop";
                    config.input_dim = 24;
                    config.generator_type = "resnet_6blocks";
                    config.norm = "none";
                    config.gan_mode = "wgangp";
                    config.lr_policy = "cosine";
                    config.direction = "BtoA";
                    config.max_dataset_size = 5;
                  });
}

}  // namespace
}  // namespace cyclegan
