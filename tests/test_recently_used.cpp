// The bounded map behind the convolution plan caches: it keeps the most recently used entries,
// makes each value once while kept, and leaves values still held elsewhere alive.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kernels/recently_used.h"

namespace {

using cyclegan::RecentlyUsed;

TEST(RecentlyUsed, KeepsTheMostRecentlyUsedEntriesUpToItsCapacity) {
  RecentlyUsed<int, std::string> cache(3);
  int made = 0;
  const auto get = [&](int key) {
    return cache.get(key, [&] {
      ++made;
      return std::to_string(key);
    });
  };
  EXPECT_EQ(get(1), "1");
  EXPECT_EQ(get(2), "2");
  EXPECT_EQ(get(3), "3");
  EXPECT_EQ(made, 3);
  EXPECT_EQ(get(1), "1");  // kept: not made again, and now the most recent
  EXPECT_EQ(made, 3);
  EXPECT_EQ(get(4), "4");  // over capacity: 2, the least recently used, goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(made, 4);
  get(1);
  get(3);
  get(4);
  EXPECT_EQ(made, 4);
  get(2);  // made again
  EXPECT_EQ(made, 5);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(RecentlyUsed, AnEvictedValueLivesOnWhereItIsStillHeld) {
  RecentlyUsed<int, std::shared_ptr<int>> cache(1);
  const std::shared_ptr<int> first = cache.get(1, [] { return std::make_shared<int>(10); });
  const std::weak_ptr<int> second =
      cache.get(2, [] { return std::make_shared<int>(20); });  // evicts 1
  EXPECT_EQ(*first, 10);
  EXPECT_FALSE(second.expired());  // the cache holds it
  cache.get(3, [] { return std::make_shared<int>(30); });
  EXPECT_TRUE(second.expired());  // evicted, and held nowhere else
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
