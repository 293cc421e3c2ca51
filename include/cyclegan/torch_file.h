#pragma once

#include <ATen/core/Tensor.h>
#include <torch/ordered_dict.h>

#include <filesystem>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cyclegan {

/// Named tensors in file order (a PyTorch state_dict).
using StateDict = torch::OrderedDict<std::string, at::Tensor>;

/// What read_torch_file() found besides tensors.
struct TorchFileInfo {
  std::string format;                     ///< "zip" (torch >= 1.6) or "legacy"
  std::vector<std::string> skipped_keys;  ///< top-level entries that are not tensors
};

/// Reads a file written by Python's `torch.save(obj, path)` where obj is a dict / OrderedDict of
/// name -> tensor (a state_dict), in both of PyTorch's formats: the zip archive and the legacy
/// stream (`_use_new_zipfile_serialization=False`, used by older published checkpoints).
/// LibTorch's torch::pickle_load cannot read these: the pickle rebuilds tensors through
/// torch._utils._rebuild_tensor_v2, so this is a small pickle reader of our own.
/// Both zip layouts are read: PyTorch 1.x's and 2.x's (`byteorder`, `.format_version`,
/// `.data/serialization_id` records; big-endian data is byte-swapped).
/// Throws CheckpointError naming the file when it is not such a file or is truncated.
StateDict read_torch_file(const std::filesystem::path& path, TorchFileInfo* info = nullptr);

/// Writes `weights` as Python's `torch.save(module.state_dict(), path)` does: the zip format, a
/// `collections.OrderedDict` of tensors rebuilt by `torch._utils._rebuild_tensor_v2` from typed
/// storages, in pickle protocol 2, with the `byteorder` record of PyTorch 2.x. It names no other
/// Python class, so `torch.load(path, weights_only=True)` (PyTorch >= 2.6's default) reads it.
/// Tensors are copied to the CPU. Atomic (a crash leaves the previous file); throws
/// CheckpointError naming the file.
void write_torch_file(const std::filesystem::path& path, const StateDict& weights);

/// A value of a dict written by write_torch_file(): metadata, or a state_dict.
using TorchFileField = std::variant<bool, int64_t, std::string, StateDict>;
using TorchFileFields = std::vector<std::pair<std::string, TorchFileField>>;

/// Writes `fields` as `torch.save(dict(fields), path)` does, each state_dict in it as a plain
/// dict of tensors (LibTorch 1.13's torch::pickle_load turns an OrderedDict into None; Python
/// keeps a dict's order). Same format and guarantees as the state_dict overload.
void write_torch_file(const std::filesystem::path& path, const TorchFileFields& fields);

}  // namespace cyclegan
