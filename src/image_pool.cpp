#include "cyclegan/image_pool.h"

#include <torch/torch.h>

#include <sstream>

namespace cyclegan {

ImagePool::ImagePool(int64_t capacity, uint64_t seed) : capacity_(capacity), generator_(seed) {
  TORCH_CHECK(capacity >= 0, "ImagePool capacity must be >= 0, got ", capacity);
}

std::string ImagePool::generator_state() const {
  std::ostringstream state;
  state << generator_;
  return state.str();
}

void ImagePool::restore(std::vector<at::Tensor> images, const std::string& generator_state) {
  TORCH_CHECK(static_cast<int64_t>(images.size()) <= capacity_, "ImagePool: ", images.size(),
              " images do not fit a pool of ", capacity_);
  std::istringstream state(generator_state);
  state >> generator_;
  TORCH_CHECK(!state.fail(), "ImagePool: unreadable generator state");
  images_ = std::move(images);
}

at::Tensor ImagePool::query(const at::Tensor& images) {
  at::Tensor detached = images.detach();
  if (capacity_ == 0) return detached;
  std::vector<at::Tensor> returned;
  for (int64_t i = 0; i < detached.size(0); ++i) {
    at::Tensor image = detached.slice(0, i, i + 1);  // [1, C, H, W]
    if (size() < capacity_) {
      images_.push_back(image.clone());
      returned.push_back(image);
      continue;
    }
    // Raw generator bits, not std distributions: the draws must be the same on every platform.
    const bool use_history = (generator_() >> 63) != 0;
    if (use_history) {
      const auto slot = static_cast<size_t>(generator_() % static_cast<uint64_t>(capacity_));
      returned.push_back(images_[slot]);
      images_[slot] = image.clone();
    } else {
      returned.push_back(image);
    }
  }
  return torch::cat(returned, 0);
}

}  // namespace cyclegan
