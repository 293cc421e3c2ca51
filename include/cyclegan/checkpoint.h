#pragma once

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/ordered_dict.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cyclegan/networks.h"
#include "cyclegan/torch_file.h"

namespace torch::optim {
class Optimizer;
}

namespace cyclegan {

class ImagePool;
class LearningRateSchedule;

/// Version of our checkpoint layout; readers refuse newer versions with a clear message.
constexpr int64_t kCheckpointFormatVersion = 1;

/// What a network file says about itself, so `translate` needs no configuration.
struct NetworkInfo {
  std::string kind = "generator";  ///< "generator" or "discriminator"
  std::string architecture;        ///< generator architecture, or "patchgan" / "pixelgan"
  int64_t in_channels = 3;
  int64_t out_channels = 3;  ///< generators only
  int64_t filters = 64;      ///< ngf or ndf
  int64_t n_layers = 3;      ///< discriminators only
  bool dropout = false;
  std::string norm = "instance";  ///< norm_types(); files written before it existed: instance
  bool input_skip = false;        ///< GeneratorModule::input_skip; absent from older files: false
  int64_t image_size = 0;         ///< side the network was trained at (0 = unknown)
  int64_t step = 0;               ///< training steps done when saved
  std::string direction;          ///< "AB" / "BA" for generators, "A" / "B" for discriminators
};

/// Parameters and buffers by their registered names (the official PyTorch state_dict keys), in
/// PyTorch's order.
StateDict state_dict(const torch::nn::Module& module);

/// Copies `weights` into `module`. Every key must exist with the same shape, and none may be
/// missing; otherwise throws CheckpointError listing missing/unexpected keys or the first shape
/// disagreement, prefixed by `origin` (the file name).
void load_state_dict(torch::nn::Module& module, const StateDict& weights,
                     const std::string& origin);

/// Writes the network's weights and `info` as a torch.save-compatible dict (Python's
/// torch.load(f, weights_only=True) reads it), atomically: a crash leaves the previous file
/// intact. Throws CheckpointError.
void save_network(const std::filesystem::path& path, const torch::nn::Module& module,
                  const NetworkInfo& info);

/// Writes only the weights, as `torch.save(net.state_dict(), path)` does (official keys), for
/// Python's torch.load(path, weights_only=True) and the official networks' strict
/// load_state_dict. Atomic; throws CheckpointError.
void export_state_dict(const std::filesystem::path& path, const torch::nn::Module& module);

/// Reads a file written by save_network(); throws CheckpointError naming the file and problem.
struct NetworkFile {
  NetworkInfo info;
  StateDict weights;
};
NetworkFile read_network_file(const std::filesystem::path& path);

/// Infers an official generator's architecture, filters and channels from its state_dict keys
/// and shapes (resnet_6blocks/9blocks, unet_128/256, the book's unet). Dropout layers have no
/// weights, so only the ResNet's dropout layout can be told. Throws CheckpointError (naming
/// `origin`) for a discriminator or an unknown layout.
GeneratorOptions infer_generator_options(const StateDict& weights, const std::string& origin);

/// For PyTorch files: what the user says the network is, over what the keys suggest.
struct GeneratorOverrides {
  std::string architecture;  ///< empty: infer
  int64_t ngf = 0;           ///< 0: infer
};

/// A generator ready for inference (on CPU, eval mode) and where it came from.
struct LoadedGenerator {
  NetworkInfo info;
  GeneratorPtr generator;
  std::string source_format;  ///< "cyclegan", "pytorch zip" or "pytorch legacy"
  std::string note;           ///< what was inferred or ignored, for the user
};

/// Loads our self-describing generator files and official PyTorch state_dict files (.pth,
/// zip or legacy format; architecture inferred unless overridden). Throws CheckpointError.
LoadedGenerator load_generator(const std::filesystem::path& path,
                               const GeneratorOverrides& overrides = {});

// Training-state checkpoints of a run directory (written and read by Trainer).

/// What exact resume restores, where the trainer holds it: the four networks, both optimizers'
/// moments and step counts, this rank's history pools and the step counter (and the global CPU
/// random generator). Data order needs no state: batches follow from (seed, step).
struct TrainingState {
  std::vector<std::pair<std::string, torch::nn::Module*>> networks;  ///< archive key, network
  std::vector<std::pair<std::string, torch::optim::Optimizer*>> optimizers;
  ImagePool* pool_a = nullptr;
  ImagePool* pool_b = nullptr;
  LearningRateSchedule* schedule = nullptr;  ///< plateau's state; files before it start afresh
  int64_t* steps_done = nullptr;
};

/// Writes `state` to one file, atomically; throws CheckpointError. In a data-parallel run rank 0
/// writes it, adding the other ranks' own parts from `other_rank_states` (rank_state_bytes() of
/// ranks 1, 2, ...).
void save_training_state(const std::filesystem::path& path, const TrainingState& state,
                         const std::vector<std::string>& other_rank_states = {});

/// Restores a file written by save_training_state() into `state`, with rank `rank`'s own part
/// when the file holds it (a rank beyond the world size that wrote it keeps its history pools).
/// Returns the number of ranks that wrote the file; throws CheckpointError naming it.
int64_t load_training_state(const std::filesystem::path& path, const TrainingState& state,
                            int64_t rank, c10::Device device);

/// This rank's own part of `state` (history pools, random generator), serialised.
std::string rank_state_bytes(const TrainingState& state);

/// Which training-state checkpoints a run directory keeps.
struct CheckpointRetention {
  int64_t keep_newest = 2;         ///< train.keep_checkpoints
  int64_t keep_every_epochs = 50;  ///< also every this many epochs' checkpoint (0: none)
  int64_t steps_per_epoch = 1;
};

/// Deletes the checkpoints of `run_dir` up to `current_step` beyond the retention's newest,
/// except every keep_every_epochs-th epoch's; later ones (from before a resume) are left alone.
void prune_checkpoints(const std::filesystem::path& run_dir, int64_t current_step,
                       const CheckpointRetention& retention);

/// RUN_DIR/checkpoints/step_NNNNNNNN.pt: the training state after `step` steps.
std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, int64_t step);

/// The step of a checkpoints/step_NNNNNNNN.pt name; -1 for anything else.
int64_t checkpoint_step(const std::filesystem::path& path);

/// The complete training-state checkpoints of `run_dir`, newest (highest step) first. Files
/// being written live under temporary names until complete, so they never appear here.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);

}  // namespace cyclegan
