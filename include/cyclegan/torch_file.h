#pragma once

#include <ATen/core/Tensor.h>
#include <torch/ordered_dict.h>

#include <filesystem>
#include <string>
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
/// Throws CheckpointError naming the file when it is not such a file or is truncated.
StateDict read_torch_file(const std::filesystem::path& path, TorchFileInfo* info = nullptr);

}  // namespace cyclegan
