// ProcessGroup for CYCLEGAN_BENCH_ONLY builds, which leave out src/distributed.cpp: that file
// needs Gloo's headers and LibTorch's c10d internals, which a GPU benchmark host's LibTorch may
// not ship or may have changed. Such a build trains in one process; asking it for a process group
// is an error that says so.
#include <torch/torch.h>

#include "cyclegan/distributed.h"
#include "cyclegan/errors.h"

namespace cyclegan {

namespace {

[[noreturn]] void unavailable() {
  throw DistributedError(
      "this cyclegan was built with CYCLEGAN_BENCH_ONLY (no Gloo): data-parallel training is "
      "not available; rebuild without that option");
}

}  // namespace

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const LaunchEnvironment&, const ProcessGroupOptions&) { unavailable(); }
ProcessGroup::~ProcessGroup() = default;
int64_t ProcessGroup::rank() const { unavailable(); }
int64_t ProcessGroup::world_size() const { unavailable(); }
const std::string& ProcessGroup::backend() const { unavailable(); }
std::function<void()> ProcessGroup::start_average(const std::vector<at::Tensor>&,
                                                  const std::string&) {
  unavailable();
}
void ProcessGroup::broadcast_from_rank0(const std::vector<at::Tensor>&, const std::string&) {
  unavailable();
}
std::vector<double> ProcessGroup::sum(const std::vector<double>&, const std::string&) {
  unavailable();
}
std::vector<std::vector<double>> ProcessGroup::all_gather(const std::vector<double>&,
                                                          const std::string&) {
  unavailable();
}
std::vector<std::string> ProcessGroup::gather_on_rank0(const std::string&, const std::string&) {
  unavailable();
}

}  // namespace cyclegan
