#include <iostream>

#include "console_log.h"

namespace cyclegan::console {

void info(const std::string& message) { std::cerr << message << "\n"; }

void warn(const std::string& message) { std::cerr << "warning: " << message << "\n"; }

}  // namespace cyclegan::console
