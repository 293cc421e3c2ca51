#pragma once

// Private to the kernels: what this CPU can run, checked once.

namespace cyclegan {

// Whether this CPU has AVX-512 (F), and the BW and BF16 extensions the bf16 conversions need.
inline bool cpu_has_avx512() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
#else
  return false;
#endif
}

inline bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

}  // namespace cyclegan
