#pragma once

// Private to the kernels: the oneDNN plumbing shared by the convolutions that call oneDNN
// directly (gemm_conv.cpp, winograd.cpp). oneDNN's API comes with libdnnl-dev; CMake links
// the library when it finds the header, and without it those layers take LibTorch's path.
// (GPU hosts build without the kernels: a pip LibTorch may ship oneDNN 3's headers, whose API
// this code, written for Debian's oneDNN 2, does not compile against.)
#if __has_include(<dnnl.hpp>)
#define CYCLEGAN_HAVE_DNNL 1

#include <ATen/core/Tensor.h>

#include <dnnl.hpp>

#include <cstddef>
#include <optional>

#include "weight_packing.h"

namespace cyclegan::onednn {

using dnnl::memory;
using Layout = memory::format_tag;

// How many convolution plans (per input shape; oneDNN primitives with their generated code) each
// kind of layer keeps: the most recently used ones (RecentlyUsed). A training run uses a few
// dozen; `translate` makes new ones for every new image size.
constexpr std::size_t kMostPlans = 256;

// LibTorch calls the same oneDNN library (Debian links it dynamically), which uses the same
// OpenMP thread pool, so at::set_num_threads() governs these kernels too.
dnnl::engine& cpu_engine();

// A float32 memory descriptor that lets the primitive choose its preferred (blocked) layout.
memory::desc any_layout(const memory::dims& dims);

// A oneDNN view of a contiguous float tensor in a plain layout (no copy).
memory plain(const at::Tensor& tensor, const memory::dims& dims, Layout layout);

// `source` in the layout `wanted`: itself when it already is, else a reordered copy whose bytes
// live in `storage` (LibTorch's allocator, 64-byte aligned).
memory in_layout(const memory& source, const memory::desc& wanted, at::Tensor& storage,
                 dnnl::stream& stream);

// Copies `source` into `target` (same dims, any layouts and data types) with a reorder primitive
// made once per pair of layouts and kept. Making one costs about 5 us (oneDNN searches its
// implementations each time; its primitive cache only skips the kernel's generation), and a
// small U-Net's training step runs about 280 reorders on the thread every other one waits for.
void reorder(const memory& source, const memory& target, dnnl::stream& stream);

// Whether `layout` is a bf16 weight layout of 16 x 16 channel blocks with pairs inside
// (oneDNN's "ABcd8a16b2a" and the like, of any kernel size, 16-multiple channels, no padding)
// that weight_packing writes, and which.
std::optional<weight_packing::Bf16Layout> pair_blocked_bf16(const memory::desc& layout);

// A buffer of layout `produced` for a primitive to write; `storage` keeps its bytes alive.
memory scratch(const memory::desc& produced, at::Tensor& storage);

// Runs `compute` into a memory of layout `produced`, then brings the result into `result` (a
// plain-layout view of the tensor the caller returns).
template <typename Compute>
void into_plain(const memory::desc& produced, memory& result, dnnl::stream& stream,
                Compute compute) {
  if (produced == result.get_desc()) {
    compute(result);
    return;
  }
  at::Tensor storage;
  memory blocked = scratch(produced, storage);
  compute(blocked);
  reorder(blocked, result, stream);
}

// Primitive attributes asking the caller for scratch memory (DNNL_ARG_SCRATCHPAD) instead of
// oneDNN allocating its own.
dnnl::primitive_attr user_scratchpad();

// Whether oneDNN picked its reference (unoptimised, loop-nest) implementation for a primitive:
// slower than LibTorch's own path, so callers fall back instead.
bool is_reference_implementation(const dnnl::primitive_desc_base& descriptor);

}  // namespace cyclegan::onednn

#endif  // __has_include(<dnnl.hpp>)
