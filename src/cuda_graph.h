#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace cyclegan {

/// Whether this build can record CUDA graphs: LibTorch with CUDA, built with CYCLEGAN_WITH_CUDA.
bool cuda_graphs_supported();

/// The kernels of a piece of work recorded once and replayed with one launch. On a GPU a
/// training step at batch 1 was bound by the host issuing its kernels (some 1,500 operator calls
/// in a ResNet step), not by the GPU running them; a replay issues them all at once.
///
/// What the work allocates while it is recorded comes from a memory pool that belongs to the
/// graph (and to the graphs that share it): those tensors keep their addresses, and every replay
/// writes the same memory again. Inputs are therefore copied into tensors allocated before
/// capture, and outputs read from tensors the work left behind.
class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  /// Records the kernels that `work` launches on `device`, on a side stream; nothing runs.
  /// With `share_memory_with`, allocations come from that graph's pool: graphs replayed one after
  /// the other in the same order can share it. Throws c10::Error when the work cannot be
  /// recorded (it synchronises with the GPU, or copies from pageable host memory), or
  /// std::runtime_error when !cuda_graphs_supported().
  void capture(c10::Device device, const std::function<void()>& work,
               const CudaGraph* share_memory_with = nullptr);

  /// Runs the recorded kernels on the current stream of the capture's device.
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cyclegan
