#include "cyclegan/data.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include <spdlog/spdlog.h>

#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "opencv_image.h"
#include "seeding.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// Uniform integer in [0, bound) from raw generator output; std::uniform_int_distribution is
// implementation-defined, and exact resume needs the same draws everywhere.
int64_t uniform_below(std::mt19937_64& generator, int64_t bound) {
  return static_cast<int64_t>(generator() % static_cast<uint64_t>(bound));
}

cv::Mat resize_square(const cv::Mat& rgb, int64_t side) {
  if (rgb.rows == side && rgb.cols == side) return rgb;
  cv::Mat resized;
  // Official transforms.Resize uses bicubic; INTER_AREA would blur less on big reductions but
  // we keep the reference behaviour.
  cv::resize(rgb, resized, cv::Size(static_cast<int>(side), static_cast<int>(side)), 0, 0,
             cv::INTER_CUBIC);
  return resized;
}

}  // namespace

namespace {

// Resize, random crop and flip of a decoded image, as the official resize_and_crop.
at::Tensor augment(const cv::Mat& decoded, const TransformOptions& transform,
                   uint64_t random_seed) {
  // Grayscale before the resize, as the official transform list orders them.
  cv::Mat rgb =
      resize_square(detail::rgb8_with_channels(decoded, transform.channels), transform.load_size);
  std::mt19937_64 generator(random_seed);
  const int64_t slack = transform.load_size - transform.crop_size;
  const int64_t top = slack > 0 ? uniform_below(generator, slack + 1) : 0;
  const int64_t left = slack > 0 ? uniform_below(generator, slack + 1) : 0;
  const bool flip = transform.flip && (generator() & 1u);
  cv::Mat crop =
      rgb(cv::Rect(static_cast<int>(left), static_cast<int>(top),
                   static_cast<int>(transform.crop_size), static_cast<int>(transform.crop_size)));
  cv::Mat augmented;
  if (flip) {
    cv::flip(crop, augmented, 1);
  } else {
    augmented = crop.clone();
  }
  return detail::levels8_to_tensor(augmented);  // [channels, crop, crop]
}

}  // namespace

at::Tensor load_training_image(const fs::path& path, const TransformOptions& transform,
                               uint64_t random_seed) {
  return augment(detail::decode_rgb8(path, kMaxImagePixels), transform, random_seed);
}

at::Tensor load_training_image_from_bytes(const uint8_t* data, size_t size, const std::string& name,
                                          const TransformOptions& transform, uint64_t random_seed) {
  return augment(detail::decode_rgb8(data, size, name, kMaxImagePixels), transform, random_seed);
}

at::Tensor load_image_resized(const fs::path& path, int64_t side, int64_t channels) {
  return detail::levels8_to_tensor(resize_square(
      detail::rgb8_with_channels(detail::decode_rgb8(path, kMaxImagePixels), channels), side));
}

UnpairedLoader::UnpairedLoader(const UnpairedLoaderOptions& options)
    : options_(options), next_step_(options.start_step), next_claim_(options.start_step) {
  if (options_.transform.crop_size > options_.transform.load_size) {
    throw DataError("crop size " + std::to_string(options_.transform.crop_size) +
                    " is larger than load size " + std::to_string(options_.transform.load_size));
  }
  const std::string first = options_.swap_domains ? "B" : "A";
  const std::string second = options_.swap_domains ? "A" : "B";
  files_a_ = list_images(options_.root / (options_.split + first));
  files_b_ = list_images(options_.root / (options_.split + second));
  for (auto* files : {&files_a_, &files_b_}) {
    if (options_.max_images > 0 && static_cast<int64_t>(files->size()) > options_.max_images)
      files->resize(static_cast<size_t>(options_.max_images));
  }
  const int64_t epoch_images = std::max(size_a(), size_b());
  steps_per_epoch_ = std::max<int64_t>(1, epoch_images / global_batch());
  // Loader threads run beside the training step: one OpenCV thread each, so the workers do not
  // compete with LibTorch's thread pool for cores.
  cv::setNumThreads(1);
  const int64_t workers = std::max<int64_t>(1, options_.workers);
  for (int64_t i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

UnpairedLoader::~UnpairedLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

const std::vector<int64_t>& UnpairedLoader::epoch_order_a(int64_t epoch) const {
  // Called with mutex_ held.
  auto found = orders_.find(epoch);
  if (found != orders_.end()) return found->second;
  while (orders_.size() > 4) orders_.erase(orders_.begin());  // workers never look far back
  const int64_t length = steps_per_epoch_ * global_batch();
  std::vector<int64_t> order;
  std::mt19937_64 generator(mix_seed({options_.seed, 0xA0, static_cast<uint64_t>(epoch)}));
  while (static_cast<int64_t>(order.size()) < length) {
    // A fresh permutation of A for every pass, so a smaller A is still seen uniformly.
    std::vector<int64_t> pass(files_a_.size());
    std::iota(pass.begin(), pass.end(), 0);
    for (int64_t i = static_cast<int64_t>(pass.size()) - 1; i > 0 && !options_.serial; --i) {
      std::swap(pass[i], pass[uniform_below(generator, i + 1)]);
    }
    order.insert(order.end(), pass.begin(), pass.end());
  }
  order.resize(length);
  return orders_.emplace(epoch, std::move(order)).first->second;
}

UnpairedBatch UnpairedLoader::make_batch(int64_t global_step) const {
  UnpairedBatch batch;
  batch.epoch = global_step / steps_per_epoch_;
  batch.step_in_epoch = global_step % steps_per_epoch_;
  std::vector<int64_t> indices_a;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto& order = epoch_order_a(batch.epoch);
    const auto first = order.begin() + batch.step_in_epoch * global_batch() + first_item();
    indices_a.assign(first, first + options_.batch_size);
  }
  const int64_t side = options_.transform.crop_size;
  const int64_t channels_a = options_.transform.channels;
  const int64_t channels_b = options_.channels_b;
  TransformOptions transform_b = options_.transform;
  transform_b.channels = channels_b;
  batch.real_a = torch::empty({options_.batch_size, channels_a, side, side});
  batch.real_b = torch::empty({options_.batch_size, channels_b, side, side});
  const size_t plane_bytes = sizeof(float) * static_cast<size_t>(side * side);
  for (int64_t i = 0; i < options_.batch_size; ++i) {
    const uint64_t item = mix_seed({options_.seed, static_cast<uint64_t>(global_step),
                                    static_cast<uint64_t>(first_item() + i)});
    std::mt19937_64 pick_b(mix_seed({item, 0xB0}));
    const int64_t position = batch.step_in_epoch * global_batch() + first_item() + i;
    const int64_t index_b = options_.serial ? position % size_b() : uniform_below(pick_b, size_b());
    const at::Tensor image_a =
        load_usable(files_a_, indices_a[i], options_.transform, mix_seed({item, 0xA1}));
    const at::Tensor image_b = load_usable(files_b_, index_b, transform_b, mix_seed({item, 0xB1}));
    // memcpy rather than copy_: no LibTorch parallel region on a loader thread.
    std::memcpy(batch.real_a.data_ptr<float>() + i * channels_a * side * side,
                image_a.data_ptr<float>(), plane_bytes * static_cast<size_t>(channels_a));
    std::memcpy(batch.real_b.data_ptr<float>() + i * channels_b * side * side,
                image_b.data_ptr<float>(), plane_bytes * static_cast<size_t>(channels_b));
  }
  return batch;
}

at::Tensor UnpairedLoader::load_usable(const std::vector<fs::path>& files, int64_t index,
                                       const TransformOptions& transform,
                                       uint64_t random_seed) const {
  const auto count = static_cast<int64_t>(files.size());
  for (int64_t offset = 0; offset < count; ++offset) {
    const fs::path& file = files[static_cast<size_t>((index + offset) % count)];
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (unusable_.count(file) > 0) continue;
    }
    try {
      return load_training_image(file, transform, random_seed);
    } catch (const DataError& e) {
      // Whether a file decodes never depends on timing, so skipping it keeps batches
      // deterministic: every run (and every resume) substitutes the same next file.
      std::lock_guard<std::mutex> lock(mutex_);
      if (unusable_.emplace(file, e.what()).second) spdlog::warn("skipped: {}", e.what());
    }
  }
  throw DataError(files.front().parent_path().string() + ": none of its " + std::to_string(count) +
                  " image files can be decoded (each is named in a warning above)");
}

std::vector<std::string> UnpairedLoader::skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> reasons;
  for (const auto& [file, reason] : unusable_) reasons.push_back(reason);
  return reasons;
}

void UnpairedLoader::worker_loop() {
  while (true) {
    int64_t step = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_.wait(lock, [&] {
        return stopping_ || error_ || next_claim_ < next_step_ + options_.prefetch;
      });
      if (stopping_ || error_) return;
      step = next_claim_++;
    }
    try {
      UnpairedBatch batch = make_batch(step);
      std::lock_guard<std::mutex> lock(mutex_);
      done_.emplace(step, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    ready_.notify_all();
  }
}

UnpairedBatch UnpairedLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return error_ || done_.count(next_step_) > 0; });
  if (done_.count(next_step_) == 0) std::rethrow_exception(error_);
  UnpairedBatch batch = std::move(done_.at(next_step_));
  done_.erase(next_step_);
  ++next_step_;
  lock.unlock();
  space_.notify_all();
  return batch;
}

}  // namespace cyclegan
