#pragma once

// What the process that trains or translates sets up once: its device, its threads, how the C
// allocator treats freed memory.

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace cyclegan {

/// Resolves `auto | cpu | cuda | cuda:N`; throws ConfigError when CUDA is asked for but absent.
c10::Device resolve_device(const std::string& name);

/// Sets LibTorch's intra-op threads for the calling thread, the one that trains or translates
/// (0 = all cores; Debian's LibTorch otherwise runs one). Other threads, such as the loader's
/// workers, keep one. Returns the number in use. Also makes the C allocator keep freed memory for
/// reuse (keep_freed_memory_for_reuse()).
int64_t configure_threads(int64_t threads);

/// Makes glibc's malloc keep freed memory mapped for reuse (no block gets its own mmap(); up to
/// 1 GiB of free heap is kept): every training step frees and allocates the same large tensors,
/// which would otherwise be unmapped and zeroed by the kernel again each time. Idempotent.
void keep_freed_memory_for_reuse();

}  // namespace cyclegan
