#pragma once

// Private to the library: messages to the console from code that the GPU hosts' build
// (CYCLEGAN_BENCH_ONLY) compiles too. The full build logs through spdlog (console_log.cpp);
// GPU hosts go without it (the pip LibTorch there ships a newer fmt than Debian's spdlog
// compiles against) and write to stderr (console_log_stderr.cpp).

#include <string>

namespace cyclegan::console {

void info(const std::string& message);
void warn(const std::string& message);

}  // namespace cyclegan::console
