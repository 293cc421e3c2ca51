#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cyclegan/image_pool.h"

namespace cyclegan {
namespace {

// Image i is a constant tensor of value i, so returned images identify themselves.
at::Tensor numbered(int value) { return torch::full({1, 1, 2, 2}, static_cast<float>(value)); }

int id_of(const at::Tensor& image) { return static_cast<int>(image.flatten()[0].item<float>()); }

TEST(ImagePool, ZeroCapacityReturnsItsInput) {
  ImagePool pool(0, 1);
  auto images = torch::rand({3, 3, 4, 4});
  EXPECT_TRUE(torch::equal(pool.query(images), images));
  EXPECT_EQ(pool.size(), 0);
}

TEST(ImagePool, ReturnsInputsUntilFull) {
  ImagePool pool(5, 1);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(id_of(pool.query(numbered(i))), i);
    EXPECT_EQ(pool.size(), i + 1);
  }
}

TEST(ImagePool, OnceFullReturnsOlderImagesAboutHalfTheTime) {
  ImagePool pool(10, 7);
  for (int i = 0; i < 10; ++i) pool.query(numbered(i));
  int from_history = 0;
  const int queries = 400;
  for (int i = 10; i < 10 + queries; ++i) {
    const int returned = id_of(pool.query(numbered(i)));
    EXPECT_LE(returned, i);
    if (returned != i) ++from_history;
    EXPECT_EQ(pool.size(), 10);
  }
  EXPECT_GT(from_history, queries * 0.4);
  EXPECT_LT(from_history, queries * 0.6);
}

TEST(ImagePool, SameSeedGivesTheSameSequence) {
  ImagePool first(4, 42);
  ImagePool second(4, 42);
  ImagePool other(4, 43);
  std::vector<int> a, b, c;
  for (int i = 0; i < 50; ++i) {
    a.push_back(id_of(first.query(numbered(i))));
    b.push_back(id_of(second.query(numbered(i))));
    c.push_back(id_of(other.query(numbered(i))));
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(ImagePool, HandlesBatchesImageByImageAndDetaches) {
  ImagePool pool(2, 1);
  auto batch = torch::cat({numbered(1), numbered(2), numbered(3)}).requires_grad_();
  auto returned = pool.query(batch);
  EXPECT_EQ(returned.sizes(), batch.sizes());
  EXPECT_FALSE(returned.requires_grad());
  EXPECT_EQ(pool.size(), 2);
  EXPECT_EQ(id_of(returned[0]), 1);
  EXPECT_EQ(id_of(returned[1]), 2);
}

}  // namespace
}  // namespace cyclegan
