#include "cyclegan/runtime.h"

#include <torch/torch.h>

#include <malloc.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <mutex>
#include <thread>

#include "cyclegan/errors.h"

namespace cyclegan {

c10::Device resolve_device(const std::string& name) {
  if (name == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw ConfigError("key 'train.device' is '" + name +
                        "' but no CUDA device is available (use 'auto' or 'cpu')");
    }
    const int64_t index = name.size() > 5 ? std::stoll(name.substr(5)) : 0;
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (index >= count) {
      throw ConfigError("key 'train.device' is '" + name + "' but only " + std::to_string(count) +
                        " CUDA device(s) exist");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError("key 'train.device' must be auto, cpu, cuda or cuda:N, got '" + name + "'");
}

void keep_freed_memory_for_reuse() {
  static std::once_flag once;
  std::call_once(once, [] {
    // No block is served by its own mmap() (glibc still falls back to mmap() when the heap
    // cannot grow), and up to 1 GiB of free space at the heap's top stays mapped.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

int64_t configure_threads(int64_t threads) {
  keep_freed_memory_for_reuse();
  const int64_t wanted =
      threads > 0 ? threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
#ifdef _OPENMP
  // Not at::set_num_threads(): it also rebuilds LibTorch's pthreadpool (used only by XNNPACK and
  // NNPACK, which our convolutions never reach), whose new worker spins for tens of milliseconds
  // on a core that the first training step needs. And because it records the count for every
  // thread, each thread's first parallel operation (loader workers included) rebuilt the pool
  // again. Instead, this thread's lazy initialisation runs first, at LibTorch's default of one
  // thread, and then only OpenMP's count for this thread changes. Other threads keep one.
  at::get_num_threads();
  omp_set_num_threads(static_cast<int>(wanted));
  // A LibTorch with its own copy of the OpenMP runtime (pip's) does not see that count.
  if (at::get_num_threads() != wanted) at::set_num_threads(static_cast<int>(wanted));
#else
  at::set_num_threads(static_cast<int>(wanted));
#endif
  return at::get_num_threads();
}

}  // namespace cyclegan
