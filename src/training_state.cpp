// Training-state checkpoints (checkpoint.h): one file per checkpoint with everything exact resume
// needs, written atomically, and the pruning of a run directory's old ones.
#include <torch/torch.h>

#include <cstring>
#include <sstream>

#include "console_log.h"
#include "cyclegan/atomic_file.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_pool.h"
#include "cyclegan/schedule.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// This rank's own part: its history pools (images and random generator) and the global CPU
// random generator, which the pools' fakes and dropout draw from.
void write_rank_state(const TrainingState& state, torch::serialize::OutputArchive& archive) {
  for (const auto& [key, pool] :
       {std::pair{"pool_a", state.pool_a}, std::pair{"pool_b", state.pool_b}}) {
    torch::serialize::OutputArchive sub;
    sub.write("generator", c10::IValue(pool->generator_state()));
    sub.write("size", c10::IValue(pool->size()));
    for (int64_t i = 0; i < pool->size(); ++i) {
      sub.write(std::to_string(i), pool->images()[static_cast<size_t>(i)].to(torch::kCPU));
    }
    archive.write(key, sub);
  }
  archive.write("torch_generator", at::detail::getDefaultCPUGenerator().get_state());
}

void read_rank_state(const TrainingState& state, torch::serialize::InputArchive& archive) {
  for (const auto& [key, pool] :
       {std::pair{"pool_a", state.pool_a}, std::pair{"pool_b", state.pool_b}}) {
    torch::serialize::InputArchive sub;
    archive.read(key, sub);
    c10::IValue generator;
    c10::IValue size;
    sub.read("generator", generator);
    sub.read("size", size);
    std::vector<at::Tensor> images(static_cast<size_t>(size.toInt()));
    for (size_t i = 0; i < images.size(); ++i) sub.read(std::to_string(i), images[i]);
    pool->restore(std::move(images), generator.toStringRef());
  }
  at::Tensor torch_generator;
  archive.read("torch_generator", torch_generator);
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
  generator.set_state(torch_generator);
}

// The schedule's own state (plateau's; other policies are functions of the epoch).
void write_schedule_state(const LearningRateSchedule& schedule,
                          torch::serialize::OutputArchive& archive) {
  const PlateauState& plateau = schedule.plateau_state();
  torch::serialize::OutputArchive sub;
  sub.write("rate", c10::IValue(plateau.rate));
  sub.write("best_loss", c10::IValue(plateau.best_loss));
  sub.write("epochs_seen", c10::IValue(plateau.epochs_seen));
  sub.write("bad_epochs", c10::IValue(plateau.bad_epochs));
  sub.write("loss_sum", c10::IValue(plateau.loss_sum));
  sub.write("loss_count", c10::IValue(plateau.loss_count));
  archive.write("lr_schedule", sub);
}

void read_schedule_state(LearningRateSchedule& schedule, torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive sub;
  if (!archive.try_read("lr_schedule", sub)) return;  // written before lr_policy existed
  auto read = [&](const char* key) {
    c10::IValue value;
    sub.read(key, value);
    return value;
  };
  PlateauState plateau;
  plateau.rate = read("rate").toDouble();
  plateau.best_loss = read("best_loss").toDouble();
  plateau.epochs_seen = read("epochs_seen").toInt();
  plateau.bad_epochs = read("bad_epochs").toInt();
  plateau.loss_sum = read("loss_sum").toDouble();
  plateau.loss_count = read("loss_count").toInt();
  schedule.restore(plateau);
}

}  // namespace

std::string rank_state_bytes(const TrainingState& state) {
  torch::serialize::OutputArchive archive;
  write_rank_state(state, archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

void save_training_state(const fs::path& path, const TrainingState& state,
                         const std::vector<std::string>& other_rank_states) {
  torch::serialize::OutputArchive archive;
  for (const auto& [key, network] : state.networks) {
    torch::serialize::OutputArchive sub;
    network->save(sub);
    archive.write(key, sub);
  }
  for (const auto& [key, optimizer] : state.optimizers) {
    torch::serialize::OutputArchive sub;
    optimizer->save(sub);
    archive.write(key, sub);
  }
  write_rank_state(state, archive);  // rank 0's, under the keys of a single-process run
  // The other ranks' own state, each as the bytes of its own archive.
  archive.write("world_size", c10::IValue(static_cast<int64_t>(1 + other_rank_states.size())));
  for (size_t i = 0; i < other_rank_states.size(); ++i) {
    const std::string& bytes = other_rank_states[i];
    at::Tensor blob = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
    std::memcpy(blob.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    archive.write("rank_state_" + std::to_string(i + 1), blob);
  }
  if (state.schedule != nullptr) write_schedule_state(*state.schedule, archive);
  archive.write("steps_done", c10::IValue(*state.steps_done));
  archive.write("format_version", c10::IValue(kCheckpointFormatVersion));
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();
  std::string error;
  if (!write_file_atomically(path, data.data(), data.size(), &error)) {
    throw CheckpointError(path.string() + ": cannot write training state: " + error);
  }
}

int64_t load_training_state(const fs::path& path, const TrainingState& state, int64_t rank,
                            c10::Device device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string(), device);
    for (const auto& [key, network] : state.networks) {
      torch::serialize::InputArchive sub;
      archive.read(key, sub);
      network->load(sub);
    }
    for (const auto& [key, optimizer] : state.optimizers) {
      torch::serialize::InputArchive sub;
      archive.read(key, sub);
      optimizer->load(sub);
    }
    c10::IValue written_by(static_cast<int64_t>(1));
    archive.try_read("world_size", written_by);  // absent before distributed training existed
    if (rank == 0) {
      read_rank_state(state, archive);
    } else if (rank < written_by.toInt()) {
      at::Tensor blob;
      archive.read("rank_state_" + std::to_string(rank), blob);
      std::istringstream bytes(std::string(reinterpret_cast<const char*>(blob.data_ptr<uint8_t>()),
                                           static_cast<size_t>(blob.numel())));
      torch::serialize::InputArchive own;
      own.load_from(bytes, device);
      read_rank_state(state, own);
    }
    if (state.schedule != nullptr) read_schedule_state(*state.schedule, archive);
    c10::IValue steps;
    archive.read("steps_done", steps);
    *state.steps_done = steps.toInt();
    return written_by.toInt();
  } catch (const c10::Error& e) {
    throw CheckpointError(path.string() +
                          ": cannot restore training state (truncated, or from "
                          "another configuration?): " +
                          e.what_without_backtrace());
  }
}

void prune_checkpoints(const fs::path& run_dir, int64_t current_step,
                       const CheckpointRetention& retention) {
  int64_t kept_newest = 0;
  for (const fs::path& path : list_checkpoints(run_dir)) {
    const int64_t step = checkpoint_step(path);
    // Files beyond the current step come from before a resume at an older checkpoint: training
    // will rewrite them (identically: the run is deterministic); they are not "newest".
    if (step > current_step) continue;
    const bool newest = kept_newest < retention.keep_newest;
    const bool kept_epoch = retention.keep_every_epochs > 0 &&
                            step % retention.steps_per_epoch == 0 &&
                            (step / retention.steps_per_epoch) % retention.keep_every_epochs == 0;
    if (newest) ++kept_newest;
    if (newest || kept_epoch) continue;
    std::error_code error;
    fs::remove(path, error);
    if (error) console::warn(path.string() + ": cannot delete old checkpoint: " + error.message());
  }
}

}  // namespace cyclegan
