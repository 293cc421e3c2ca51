// libFuzzer target: the input bytes as the text of a training config (parse_train_config()).
// A ConfigError is the expected answer to bad input. A crash, a sanitizer report or any other
// exception escaping is a finding, and so is a config that parses but then fails validate() or
// does not read back from its own to_yaml() to the same YAML. scripts/fuzz.sh runs it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cyclegan/config.h"
#include "cyclegan/errors.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& first, const std::string& second) {
  std::fprintf(stderr, "fuzz_config: %s\n--- first\n%s--- second\n%s---\n", what, first.c_str(),
               second.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cyclegan::TrainConfig config;
  try {
    config = cyclegan::parse_train_config(text, "fuzz.yaml");
  } catch (const cyclegan::ConfigError&) {
    return 0;
  }
  // Outside the try: a parsed config that no longer validates, or whose own YAML is rejected,
  // escapes as an uncaught ConfigError, which libFuzzer reports as a crash.
  cyclegan::validate(config, "fuzz.yaml");
  const std::string yaml = cyclegan::to_yaml(config);
  const std::string again = cyclegan::to_yaml(cyclegan::parse_train_config(yaml, "to_yaml"));
  if (again != yaml) fail("to_yaml() does not read back to the same config", yaml, again);
  return 0;
}
