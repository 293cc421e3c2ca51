#include "console_log.h"

#include <spdlog/spdlog.h>

namespace cyclegan::console {

void info(const std::string& message) { spdlog::info("{}", message); }

void warn(const std::string& message) { spdlog::warn("{}", message); }

}  // namespace cyclegan::console
