#include "cyclegan/data.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
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

// Python's round(side / multiple) * multiple (ties to the even quotient), as the official
// __make_power_2; never 0.
int64_t round_to_multiple(int64_t side, int64_t multiple) {
  int64_t quotient = side / multiple;
  const int64_t remainder = side % multiple;
  if (2 * remainder > multiple || (2 * remainder == multiple && quotient % 2 == 1)) ++quotient;
  return std::max<int64_t>(quotient, 1) * multiple;
}

bool crops(const std::string& preprocess) { return preprocess.find("crop") != std::string::npos; }

std::string size_text(int64_t width, int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

// The official resize step of `transform.preprocess`, then, in the uncropped modes, the rounding
// of each side to a multiple the generator accepts.
cv::Mat resized(const cv::Mat& image, const TransformOptions& transform, const std::string& name) {
  const std::string& mode = transform.preprocess;
  int64_t width = image.cols;
  int64_t height = image.rows;
  if (mode == "resize_and_crop") {
    width = height = transform.load_size;
  } else if (mode == "scale_width" || mode == "scale_width_and_crop") {
    // Official __scale_width: int(max(load * h / w, crop)); integer division floors alike.
    if (width != transform.load_size || height < transform.crop_size) {
      height = std::max(transform.load_size * height / width, transform.crop_size);
      width = transform.load_size;
    }
  }
  if (!crops(mode)) {
    const int64_t rounded_width = round_to_multiple(width, transform.size_multiple);
    const int64_t rounded_height = round_to_multiple(height, transform.size_multiple);
    static std::atomic<bool> warned{false};
    if ((rounded_width != width || rounded_height != height) && !warned.exchange(true)) {
      spdlog::warn(
          "{}: resized to {} instead of {}: the generator takes sides that are multiples of {}; "
          "every such image is adjusted alike (shown once)",
          name, size_text(rounded_width, rounded_height), size_text(width, height),
          transform.size_multiple);
    }
    width = rounded_width;
    height = rounded_height;
  }
  if (image.cols == width && image.rows == height) return image;
  cv::Mat result;
  // Official transforms.Resize and PIL's resize both use bicubic here.
  cv::resize(image, result, cv::Size(static_cast<int>(width), static_cast<int>(height)), 0, 0,
             cv::INTER_CUBIC);
  return result;
}

// The crop_size square of the cropping modes: at a random position drawn from `generator`
// (top, then left), or in the centre without one.
cv::Mat cropped(const cv::Mat& image, const TransformOptions& transform, std::mt19937_64* generator,
                const std::string& name) {
  if (!crops(transform.preprocess)) return image;
  const int64_t side = transform.crop_size;
  if (image.cols < side || image.rows < side) {
    throw DataError(name + ": " + size_text(image.cols, image.rows) + " is smaller than the " +
                    size_text(side, side) + " crop (data.preprocess " + transform.preprocess +
                    " crops images at their own size; model.input_dim is the crop)");
  }
  auto offset = [&](int64_t slack) {
    if (generator == nullptr) return slack / 2;
    return slack > 0 ? uniform_below(*generator, slack + 1) : int64_t{0};
  };
  const int64_t top = offset(image.rows - side);
  const int64_t left = offset(image.cols - side);
  return image(cv::Rect(static_cast<int>(left), static_cast<int>(top), static_cast<int>(side),
                        static_cast<int>(side)));
}

// The official transform list: grayscale, resize, crop, flip, then [-1, 1].
at::Tensor transformed(const cv::Mat& decoded, const TransformOptions& transform,
                       std::mt19937_64* generator, const std::string& name) {
  const cv::Mat image =
      cropped(resized(detail::rgb8_with_channels(decoded, transform.channels), transform, name),
              transform, generator, name);
  if (std::min(image.cols, image.rows) < transform.min_side) {
    throw DataError(name + ": " + size_text(image.cols, image.rows) + " after data.preprocess " +
                    transform.preprocess + " is smaller than the " +
                    std::to_string(transform.min_side) + " pixels the discriminator needs");
  }
  cv::Mat augmented;
  if (generator != nullptr && transform.flip && ((*generator)() & 1u)) {
    cv::flip(image, augmented, 1);
  } else {
    augmented = image.clone();
  }
  return detail::levels8_to_tensor(augmented);  // [channels, H, W]
}

at::Tensor augment(const cv::Mat& decoded, const TransformOptions& transform, uint64_t random_seed,
                   const std::string& name) {
  std::mt19937_64 generator(random_seed);
  return transformed(decoded, transform, &generator, name);
}

}  // namespace

const std::vector<std::string>& preprocess_modes() {
  static const std::vector<std::string> kModes = {"resize_and_crop", "crop", "scale_width",
                                                  "scale_width_and_crop", "none"};
  return kModes;
}

at::Tensor load_training_image(const fs::path& path, const TransformOptions& transform,
                               uint64_t random_seed) {
  return augment(detail::decode_rgb8(path, kMaxImagePixels), transform, random_seed, path.string());
}

at::Tensor load_training_image_from_bytes(const uint8_t* data, size_t size, const std::string& name,
                                          const TransformOptions& transform, uint64_t random_seed) {
  return augment(detail::decode_rgb8(data, size, name, kMaxImagePixels), transform, random_seed,
                 name);
}

at::Tensor load_image_preprocessed(const fs::path& path, const TransformOptions& transform) {
  return transformed(detail::decode_rgb8(path, kMaxImagePixels), transform, nullptr, path.string());
}

at::Tensor load_image_resized(const fs::path& path, int64_t side, int64_t channels) {
  TransformOptions transform;
  transform.load_size = transform.crop_size = side;
  transform.channels = channels;
  return load_image_preprocessed(path, transform);
}

UnpairedLoader::UnpairedLoader(const UnpairedLoaderOptions& options)
    : options_(options), next_step_(options.start_step), next_claim_(options.start_step) {
  const std::string& preprocess = options_.transform.preprocess;
  if ((preprocess == "resize_and_crop" || preprocess == "scale_width_and_crop") &&
      options_.transform.crop_size > options_.transform.load_size) {
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
  TransformOptions transform_b = options_.transform;
  transform_b.channels = options_.channels_b;
  std::vector<at::Tensor> images_a;
  std::vector<at::Tensor> images_b;
  for (int64_t i = 0; i < options_.batch_size; ++i) {
    const uint64_t item = mix_seed({options_.seed, static_cast<uint64_t>(global_step),
                                    static_cast<uint64_t>(first_item() + i)});
    std::mt19937_64 pick_b(mix_seed({item, 0xB0}));
    const int64_t position = batch.step_in_epoch * global_batch() + first_item() + i;
    const int64_t index_b = options_.serial ? position % size_b() : uniform_below(pick_b, size_b());
    fs::path file_a;
    fs::path file_b;
    images_a.push_back(
        load_usable(files_a_, indices_a[i], options_.transform, mix_seed({item, 0xA1}), &file_a));
    images_b.push_back(
        load_usable(files_b_, index_b, transform_b, mix_seed({item, 0xB1}), &file_b));
    if (options_.batch_size > 1 && !crops(options_.transform.preprocess)) {
      check_same_shape(0, images_a.back(), file_a);
      check_same_shape(1, images_b.back(), file_b);
    }
  }
  // memcpy rather than stack or copy_: no LibTorch parallel region on a loader thread.
  auto stacked = [](const std::vector<at::Tensor>& images) {
    std::vector<int64_t> shape = images.front().sizes().vec();
    shape.insert(shape.begin(), static_cast<int64_t>(images.size()));
    at::Tensor batch_tensor = torch::empty(shape);
    const size_t image_bytes = sizeof(float) * static_cast<size_t>(images.front().numel());
    for (size_t i = 0; i < images.size(); ++i) {
      std::memcpy(reinterpret_cast<char*>(batch_tensor.data_ptr<float>()) + i * image_bytes,
                  images[i].data_ptr<float>(), image_bytes);
    }
    return batch_tensor;
  };
  batch.real_a = stacked(images_a);
  batch.real_b = stacked(images_b);
  return batch;
}

void UnpairedLoader::check_same_shape(int domain, const at::Tensor& image,
                                      const fs::path& file) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& [shape, first_file] = first_shape_[domain];
  if (shape.empty()) {
    shape = image.sizes().vec();
    first_file = file;
    return;
  }
  if (image.sizes().vec() == shape) return;
  throw DataError("data.preprocess " + options_.transform.preprocess +
                  " keeps each image's own proportions, and with data.batch_size " +
                  std::to_string(options_.batch_size) +
                  " all images of a domain must come out the same size: " + file.string() +
                  " gives " + size_text(image.size(2), image.size(1)) + ", " + first_file.string() +
                  " gave " + size_text(shape[2], shape[1]) +
                  "; use data.batch_size 1, or a preprocess that crops");
}

at::Tensor UnpairedLoader::load_usable(const std::vector<fs::path>& files, int64_t index,
                                       const TransformOptions& transform, uint64_t random_seed,
                                       fs::path* used) const {
  const auto count = static_cast<int64_t>(files.size());
  for (int64_t offset = 0; offset < count; ++offset) {
    const fs::path& file = files[static_cast<size_t>((index + offset) % count)];
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (unusable_.count(file) > 0) continue;
    }
    try {
      *used = file;
      return load_training_image(file, transform, random_seed);
    } catch (const DataError& e) {
      // Whether a file decodes never depends on timing, so skipping it keeps batches
      // deterministic: every run (and every resume) substitutes the same next file.
      std::lock_guard<std::mutex> lock(mutex_);
      if (unusable_.emplace(file, e.what()).second) spdlog::warn("skipped: {}", e.what());
    }
  }
  throw DataError(files.front().parent_path().string() + ": none of its " + std::to_string(count) +
                  " image files can be decoded and used (each is named in a warning above)");
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
