#include "seeding.h"

namespace cyclegan {

uint64_t mix_seed(std::initializer_list<uint64_t> values) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (uint64_t value : values) {
    state ^= value + 0x9E3779B97F4A7C15ull + (state << 6) + (state >> 2);
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    state = z ^ (z >> 31);
  }
  return state;
}

}  // namespace cyclegan
