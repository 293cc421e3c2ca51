#pragma once

// Private to the library: a thread-safe map that keeps only its most recently used entries.
// The convolution plans (oneDNN primitives with their generated code, per input shape) live in
// these: a training run needs a few dozen, but `translate` meets new shapes with every new
// image size, and kept them all, growing without bound over a folder of photos.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace cyclegan {

template <typename Key, typename Value>
class RecentlyUsed {
 public:
  explicit RecentlyUsed(std::size_t capacity) : capacity_(capacity) {}

  // The value for `key`, made by make() when missing; the least recently used entry goes when
  // there are more than `capacity` (values still held elsewhere live on there).
  template <typename Make>
  Value get(const Key& key, Make make) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) {
      found = entries_.emplace(key, std::make_pair(make(), ++clock_)).first;
      if (entries_.size() > capacity_) {
        auto oldest = entries_.begin();
        for (auto entry = entries_.begin(); entry != entries_.end(); ++entry) {
          if (entry->second.second < oldest->second.second) oldest = entry;
        }
        entries_.erase(oldest);  // not `found`: it is the newest
      }
    }
    found->second.second = ++clock_;
    return found->second.first;
  }

  std::size_t size() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::map<Key, std::pair<Value, uint64_t>> entries_;  // value, last use
  uint64_t clock_ = 0;
};

}  // namespace cyclegan
