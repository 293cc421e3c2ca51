#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace cyclegan {

/// History of generated images (Shrivastava et al. 2017; CycleGAN §4): the discriminators see a
/// mix of the newest fakes and older ones, which damps oscillation.
class ImagePool {
 public:
  /// capacity 0 disables the pool (query returns its input).
  ImagePool(int64_t capacity, uint64_t seed);

  /// For each image of the [N, C, H, W] batch: while the pool is filling, store it and return it;
  /// afterwards, with probability 1/2 return a stored image and store the new one in its place,
  /// else return the new image. Returns a detached [N, C, H, W] batch.
  at::Tensor query(const at::Tensor& images);

  int64_t size() const { return static_cast<int64_t>(images_.size()); }
  int64_t capacity() const { return capacity_; }

  /// What exact resume needs: the stored images and the random generator's state as text.
  const std::vector<at::Tensor>& images() const { return images_; }
  std::string generator_state() const;
  /// Puts back what images() and generator_state() returned.
  void restore(std::vector<at::Tensor> images, const std::string& generator_state);

 private:
  int64_t capacity_;
  std::mt19937_64 generator_;
  std::vector<at::Tensor> images_;  // each [1, C, H, W]
};

}  // namespace cyclegan
