#include "cuda_graph.h"

#include <stdexcept>

#ifdef CYCLEGAN_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace cyclegan {

#ifdef CYCLEGAN_WITH_CUDA

bool cuda_graphs_supported() { return true; }

struct CudaGraph::Impl {
  at::cuda::CUDAGraph graph;
  c10::DeviceIndex device = 0;
};

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;

void CudaGraph::capture(c10::Device device, const std::function<void()>& work,
                        const CudaGraph* share_memory_with) {
  impl_->device = device.has_index() ? device.index() : c10::cuda::current_device();
  c10::cuda::CUDAGuard device_guard(impl_->device);
  // CUDA cannot capture the default stream. Work queued before must be finished, as the
  // recorded kernels may read its results on their first replay.
  c10::cuda::device_synchronize();
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, impl_->device);
  {
    c10::cuda::CUDAStreamGuard stream_guard(side);
    if (share_memory_with != nullptr) {
      impl_->graph.capture_begin(share_memory_with->impl_->graph.pool());
    } else {
      impl_->graph.capture_begin();
    }
    try {
      work();
    } catch (...) {
      try {
        impl_->graph.capture_end();  // leaves the stream out of capture mode
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
  }
  c10::cuda::device_synchronize();
}

void CudaGraph::replay() {
  c10::cuda::CUDAGuard device_guard(impl_->device);
  impl_->graph.replay();
}

#else  // a LibTorch without CUDA

bool cuda_graphs_supported() { return false; }

struct CudaGraph::Impl {};

CudaGraph::CudaGraph() = default;
CudaGraph::~CudaGraph() = default;

void CudaGraph::capture(c10::Device, const std::function<void()>&, const CudaGraph*) {
  throw std::runtime_error("this cyclegan was built without CUDA: no CUDA graphs");
}

void CudaGraph::replay() {
  throw std::runtime_error("this cyclegan was built without CUDA: no CUDA graphs");
}

#endif

}  // namespace cyclegan
