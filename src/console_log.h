#pragma once

// Private to the library: messages to the default (console) logger from code that a
// CYCLEGAN_BENCH_ONLY build compiles too. Such builds (GPU hosts) go without spdlog: the pip
// LibTorch they build against ships its own, newer fmt, which Debian's spdlog does not compile
// against. There the messages go to stderr.

#include <string>

#ifdef CYCLEGAN_BENCH_ONLY
#include <iostream>
#else
#include <spdlog/spdlog.h>
#endif

namespace cyclegan::console {

inline void info(const std::string& message) {
#ifdef CYCLEGAN_BENCH_ONLY
  std::cerr << message << "\n";
#else
  spdlog::info("{}", message);
#endif
}

inline void warn(const std::string& message) {
#ifdef CYCLEGAN_BENCH_ONLY
  std::cerr << "warning: " << message << "\n";
#else
  spdlog::warn("{}", message);
#endif
}

}  // namespace cyclegan::console
