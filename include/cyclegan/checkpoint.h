#pragma once

#include <torch/nn/module.h>
#include <torch/ordered_dict.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "cyclegan/networks.h"

namespace cyclegan {

/// Version of our checkpoint layout; readers refuse newer versions with a clear message.
constexpr int64_t kCheckpointFormatVersion = 1;

/// What a network file says about itself, so `translate` needs no configuration.
struct NetworkInfo {
  std::string kind = "generator";  ///< "generator" or "discriminator"
  std::string architecture;        ///< generator architecture, or "patchgan"
  int64_t in_channels = 3;
  int64_t out_channels = 3;  ///< generators only
  int64_t filters = 64;      ///< ngf or ndf
  int64_t n_layers = 3;      ///< discriminators only
  bool dropout = false;
  int64_t image_size = 0;  ///< side the network was trained at (0 = unknown)
  int64_t step = 0;        ///< training steps done when saved
  std::string direction;   ///< "AB" / "BA" for generators, "A" / "B" for discriminators
};

using StateDict = torch::OrderedDict<std::string, at::Tensor>;

/// Parameters and buffers by their registered names (the official PyTorch state_dict keys).
StateDict state_dict(const torch::nn::Module& module);

/// Copies `weights` into `module`. Every key must exist with the same shape, and none may be
/// missing; otherwise throws CheckpointError listing missing/unexpected keys or the first shape
/// disagreement, prefixed by `origin` (the file name).
void load_state_dict(torch::nn::Module& module, const StateDict& weights,
                     const std::string& origin);

/// Writes the network's weights and `info` as a torch.save-compatible dict (Python's torch.load
/// reads it), atomically: a crash leaves the previous file intact. Throws CheckpointError.
void save_network(const std::filesystem::path& path, const torch::nn::Module& module,
                  const NetworkInfo& info);

/// Reads a file written by save_network(); throws CheckpointError naming the file and problem.
struct NetworkFile {
  NetworkInfo info;
  StateDict weights;
};
NetworkFile read_network_file(const std::filesystem::path& path);

/// Builds the generator a file describes and loads its weights (on CPU).
struct LoadedGenerator {
  NetworkInfo info;
  GeneratorPtr generator;
};
LoadedGenerator load_generator(const std::filesystem::path& path);

}  // namespace cyclegan
