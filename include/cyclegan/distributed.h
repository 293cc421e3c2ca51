#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cyclegan {

/// Where this process sits in a data-parallel run: the torch.distributed environment that
/// torchrun (and `cyclegan train --nproc N`) sets for every worker.
struct LaunchEnvironment {
  int64_t rank = 0;              ///< RANK
  int64_t world_size = 1;        ///< WORLD_SIZE
  int64_t local_rank = 0;        ///< LOCAL_RANK (defaults to RANK)
  int64_t local_world_size = 1;  ///< LOCAL_WORLD_SIZE (defaults to WORLD_SIZE): shares the cores
  std::string master_addr;       ///< MASTER_ADDR: host of the rendezvous store
  int64_t master_port = 0;       ///< MASTER_PORT
  /// TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store and every rank is a
  /// client of it, under the key prefix of attempt TORCHELASTIC_RESTART_COUNT (as PyTorch does).
  bool agent_store = false;
  std::string restart_count = "0";
};

/// The environment's launch description, or nothing when WORLD_SIZE is unset (one process).
/// Throws ConfigError naming the variable when one is missing or malformed.
std::optional<LaunchEnvironment> launch_environment_from_env();

struct ProcessGroupOptions {
  std::string backend = "auto";  ///< auto (nccl on CUDA, gloo on CPU), gloo, nccl
  double timeout_seconds = 300;  ///< a collective not finished by then fails, naming the rank
  bool on_cuda = false;          ///< the tensors live on a CUDA device
};

/// A c10d process group (Gloo; the NCCL one where LibTorch was built with it) with what the
/// trainer needs: averaging gradients, broadcasting weights, small sums, gathering bytes on rank
/// 0. Every rank must call the same collectives in the same order. A collective that fails or
/// times out throws DistributedError naming the rank(s) that stopped answering: each rank
/// publishes a heartbeat and a count of collectives entered in the rendezvous store.
class ProcessGroup {
 public:
  ProcessGroup(const LaunchEnvironment& environment, const ProcessGroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const;
  int64_t world_size() const;
  const std::string& backend() const;

  /// Starts replacing each tensor by its mean over all ranks, in flat buckets of about 25 MiB
  /// that the backend reduces in its own threads while the caller goes on computing. The
  /// returned function waits for the result and writes it back into the tensors.
  std::function<void()> start_average(const std::vector<at::Tensor>& tensors,
                                      const std::string& what);
  /// Copies rank 0's values into every rank's tensors.
  void broadcast_from_rank0(const std::vector<at::Tensor>& tensors, const std::string& what);
  /// Element-wise sum over all ranks of a few numbers (losses, flags).
  std::vector<double> sum(const std::vector<double>& values, const std::string& what);
  /// Every rank's `values` (the same length on each), indexed by rank.
  std::vector<std::vector<double>> all_gather(const std::vector<double>& values,
                                              const std::string& what);
  /// On rank 0: every rank's bytes, indexed by rank (its own entry is `bytes`). Elsewhere: {}.
  /// Travels through the rendezvous store, so it suits megabytes, not gigabytes.
  std::vector<std::string> gather_on_rank0(const std::string& bytes, const std::string& what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cyclegan
