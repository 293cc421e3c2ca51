#pragma once

#include <cstdint>
#include <initializer_list>

namespace cyclegan {

/// Mixes several integers into one well-spread 64-bit seed (splitmix64). Every random stream of
/// a run (data order, augmentation, history pools, each rank's own) is derived from the run's
/// seed through it, so exact resume needs no generator state for them.
uint64_t mix_seed(std::initializer_list<uint64_t> values);

}  // namespace cyclegan
