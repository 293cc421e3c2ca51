#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "cyclegan/atomic_file.h"
#include "cyclegan/config.h"
#include "cyclegan/distributed.h"
#include "cyclegan/errors.h"
#include "cyclegan/trainer.h"

namespace cyclegan::cli {

namespace {

std::string config_reference() {
  std::string text = "Configuration keys (YAML sections; override with --set section.key=value):\n";
  for (const auto& doc : config_key_docs()) {
    text += "  " + doc.name + " (" + doc.type + ", default " + doc.default_value + ")\n      " +
            doc.description + "\n";
  }
  return text;
}

// Set by SIGINT/SIGTERM: the trainer finishes its step, checkpoints and returns.
std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int signal_number) {
  if (signal_number == SIGINT && stop_requested.load()) {
    // A second Ctrl-C leaves at once; the previous checkpoint is complete (written atomically).
    std::_Exit(130);
  }
  stop_requested.store(true);
}

// Runs training with SIGINT/SIGTERM turned into a clean stop; exit status 0 when done, 130 when
// stopped early (after writing a checkpoint).
int train_until_done_or_stopped(Trainer& trainer) {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  const RunSummary summary = trainer.run(&stop_requested);
  for (const auto& path : summary.checkpoints) std::cout << path.string() << "\n";
  if (summary.interrupted) {
    if (trainer.rank() == 0) {
      std::cerr << "stopped after step " << summary.steps
                << "; resume with: cyclegan train --resume " << summary.run_dir.string() << "\n";
    }
    return 130;
  }
  return 0;
}

// What a run writes into output.dir, and so what --overwrite deletes (nothing else: the
// directory may hold the user's own files).
const std::vector<std::string> kRunFiles = {
    "config.yaml", "train.log", "losses.csv", "report.html", "g_AB.pt",
    "g_BA.pt",     "d_A.pt",    "d_B.pt",     "samples",     "checkpoints"};

// A fresh run must not mix its files with an earlier run's: refuse unless asked to start over.
void refuse_or_clear_previous_run(const std::filesystem::path& run_dir, bool overwrite) {
  std::error_code error;
  const bool previous = std::filesystem::exists(run_dir / "config.yaml", error) ||
                        std::filesystem::exists(run_dir / "checkpoints", error);
  if (!previous) return;
  if (!overwrite) {
    throw ConfigError("output.dir '" + run_dir.string() +
                      "' already holds a run; continue it with 'cyclegan train --resume " +
                      run_dir.string() +
                      "', start over with --overwrite, or choose another output.dir");
  }
  // Taking the lock first: never delete under a trainer that is still running.
  {
    const DirectoryLock lock(run_dir);
    for (const auto& name : kRunFiles) {
      std::filesystem::remove_all(run_dir / name, error);
      if (error) {
        throw DataError((run_dir / name).string() + ": cannot delete: " + error.message());
      }
    }
  }
}

// One rank of a data-parallel run when the torch.distributed environment is set (torchrun,
// --nproc), else the plain single-process trainer.
std::unique_ptr<Trainer> make_trainer(TrainConfig config) {
  const auto launch = launch_environment_from_env();
  if (!launch || launch->world_size == 1) return std::make_unique<Trainer>(config);
  if (config.threads == 0) {
    // The workers of one machine share its cores (torchrun would give each one thread).
    const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
    config.threads = std::max<int64_t>(1, cores / launch->local_world_size);
  }
  ProcessGroupOptions options;
  options.backend = config.distributed_backend;
  options.timeout_seconds = config.distributed_timeout;
  options.on_cuda = resolve_device(config.device).is_cuda();
  auto group = std::make_shared<ProcessGroup>(*launch, options);
  return std::make_unique<Trainer>(config, std::move(group));
}

bool is_rank_zero() {
  const auto launch = launch_environment_from_env();
  return !launch || launch->rank == 0;
}

}  // namespace

std::function<int()> add_train_command(CLI::App& app) {
  struct Options {
    std::string config_file;
    std::string resume_dir;
    std::vector<std::string> overrides;
    bool overwrite = false;
    int64_t nproc = 1;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("train", "Train the four CycleGAN networks");
  command->add_option("-c,--config", options->config_file, "YAML configuration file")
      ->check(CLI::ExistingFile);
  command
      ->add_option("--resume", options->resume_dir,
                   "Continue the run in this directory from its newest checkpoint that loads "
                   "(or from RUN_DIR/checkpoints/step_N.pt), exactly as if it had not stopped; "
                   "its configuration is kept")
      ->check(CLI::ExistingPath)
      ->excludes("--config");
  command
      ->add_flag("--overwrite", options->overwrite,
                 "Start over in an output.dir that holds a previous run (its checkpoints, "
                 "samples, losses and report are deleted first)")
      ->excludes("--resume");
  command
      ->add_option("--nproc", options->nproc,
                   "Train data-parallel in N local worker processes (Gloo on 127.0.0.1), as "
                   "'torchrun --nproc_per_node N' would; the global batch is N x data.batch_size")
      ->check(CLI::Range(1, 1024));
  command
      ->add_option("-s,--set", options->overrides,
                   "Override a key: section.key=value (or key=value when unique); repeatable")
      ->take_all();
  command->footer(
      "Examples:\n"
      "  cyclegan train --config configs/apple2orange.yaml\n"
      "  cyclegan train --config configs/demo.yaml --set train.epochs=2 --set output.dir=runs/x\n"
      "  cyclegan train --set data.root=datasets/horse2zebra --set model.generator_type=resnet\n"
      "  cyclegan train --resume runs/x --set train.max_steps=5000\n\n"
      "Writes into output.dir: config.yaml (resolved), train.log, losses.csv, samples/*.png and\n"
      "g_AB.pt, g_BA.pt, d_A.pt, d_B.pt; prints the checkpoint paths on stdout.\n\n" +
      config_reference());
  return [options] {
    if (options->nproc > 1 && std::getenv("WORLD_SIZE") != nullptr) {
      throw ConfigError(
          "--nproc starts its own workers, but this process is already one (WORLD_SIZE is "
          "set, as torchrun sets it): drop --nproc or the torch.distributed variables");
    }
    if (!options->resume_dir.empty()) {
      // RUN_DIR, or one checkpoint: RUN_DIR/checkpoints/step_N.pt.
      std::filesystem::path run_dir = options->resume_dir;
      std::filesystem::path checkpoint;
      if (!std::filesystem::is_directory(run_dir)) {
        checkpoint = run_dir;
        run_dir = checkpoint.parent_path().parent_path();
        if (checkpoint.parent_path().filename() != "checkpoints") {
          throw ConfigError("--resume " + checkpoint.string() +
                            ": expected a run directory or RUN_DIR/checkpoints/step_N.pt");
        }
      }
      if (!std::filesystem::is_regular_file(run_dir / "config.yaml")) {
        throw ConfigError("--resume " + options->resume_dir + ": " +
                          (run_dir / "config.yaml").string() +
                          " is missing; not a cyclegan run directory");
      }
      TrainConfig config = load_train_config(run_dir / "config.yaml");
      for (const auto& assignment : options->overrides) apply_override(config, assignment, true);
      config.output_dir = run_dir.string();
      validate(config, (run_dir / "config.yaml").string());
      if (options->nproc > 1)
        return launch_local_workers(options->nproc, config.distributed_timeout);
      const auto trainer = make_trainer(config);
      trainer->resume(checkpoint);
      return train_until_done_or_stopped(*trainer);
    }
    TrainConfig config =
        options->config_file.empty() ? TrainConfig{} : load_train_config(options->config_file);
    for (const auto& assignment : options->overrides) apply_override(config, assignment);
    validate(config,
             options->overrides.empty()
                 ? (options->config_file.empty() ? std::string("defaults") : options->config_file)
                 : std::string("configuration after --set"));
    if (is_rank_zero()) refuse_or_clear_previous_run(config.output_dir, options->overwrite);
    if (options->nproc > 1) return launch_local_workers(options->nproc, config.distributed_timeout);
    const auto trainer = make_trainer(config);
    return train_until_done_or_stopped(*trainer);
  };
}

}  // namespace cyclegan::cli
