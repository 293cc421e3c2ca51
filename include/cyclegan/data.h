#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cyclegan {

/// The official --preprocess values, in the order of its documentation.
const std::vector<std::string>& preprocess_modes();

/// How a training image is resized and cropped (official get_transform), then flipped and scaled
/// to [-1, 1]:
/// - resize_and_crop: both sides resized to load_size, then a random crop_size square;
/// - crop: a random crop_size square of the image at its own size;
/// - scale_width: width resized to load_size, height in proportion (at least crop_size), no crop;
/// - scale_width_and_crop: as scale_width, then a random crop_size square;
/// - none: the image at its own size.
/// The uncropped modes give each image its own shape. Sides that are not a multiple of
/// size_multiple are resized to the nearest multiple (ties to even, as the official
/// __make_power_2 rounds to 4), so that the generator can take them; the official code does this
/// for none and stops with a size error for scale_width.
struct TransformOptions {
  int64_t load_size = 128;  ///< resize target (bicubic): both sides, or the width for scale_width
  int64_t crop_size = 128;  ///< side of the random square crop
  bool flip = true;         ///< horizontal flip with probability 1/2
  int64_t channels = 3;     ///< 3 (RGB) or 1 (luma, official --input_nc / --output_nc 1)
  std::string preprocess = "resize_and_crop";
  int64_t size_multiple = 4;  ///< uncropped sides are rounded to a multiple of this
  int64_t min_side = 1;       ///< smaller results are refused (the discriminator needs this much)
};

/// The deterministic part of the transform: the [channels, H, W] image in [-1, 1] after the
/// resize, with a crop_size square taken from its centre in the cropping modes and no flip (the
/// training samples and the image shapes a run will see).
at::Tensor load_image_preprocessed(const std::filesystem::path& path,
                                   const TransformOptions& transform);

/// Reads and augments one image: [channels, H, W] in [-1, 1] (crop_size square in the cropping
/// modes). `random_seed` fixes the crop position and flip, so the same seed gives the same tensor
/// on any thread. Throws DataError naming the file when the image is too small for the crop or
/// for min_side.
at::Tensor load_training_image(const std::filesystem::path& path, const TransformOptions& transform,
                               uint64_t random_seed);

/// load_training_image() for an encoded image in memory; errors start with `name`.
at::Tensor load_training_image_from_bytes(const uint8_t* data, size_t size, const std::string& name,
                                          const TransformOptions& transform, uint64_t random_seed);

/// Reads one image resized to side x side without augmentation (for sample grids): [channels,
/// side, side], channels 1 being its luma (read_image()).
at::Tensor load_image_resized(const std::filesystem::path& path, int64_t side,
                              int64_t channels = 3);

struct UnpairedLoaderOptions {
  std::filesystem::path root;  ///< holds `<split>A/` and `<split>B/`
  std::string split = "train";
  TransformOptions transform;  ///< its channels are domain A's
  int64_t channels_b = 3;      ///< domain B's channels (official --output_nc)
  int64_t batch_size = 1;
  int64_t workers = 2;
  int64_t prefetch = 4;
  uint64_t seed = 0;
  int64_t start_step = 0;  ///< global step of the first batch (to resume a run)
  /// Data parallelism: every step draws one global batch of batch_size x world_size items, and
  /// rank r takes items [r x batch_size, (r + 1) x batch_size). Each item's augmentation and B
  /// draw depend on its index in the global batch, so 2 ranks of batch 1 see exactly what 1
  /// rank of batch 2 sees.
  int64_t rank = 0;
  int64_t world_size = 1;
  /// Official --max_dataset_size: each domain keeps its first max_images files (in name order);
  /// 0 keeps all.
  int64_t max_images = 0;
  /// Official --serial_batches: epoch position p takes A image p mod |A| and B image p mod |B|,
  /// in name order, instead of a shuffled A and a random B.
  bool serial = false;
  /// Official --direction BtoA: `<split>B/` is read as domain A and `<split>A/` as domain B.
  bool swap_domains = false;
};

/// One training step's input (this rank's share): real_a, real_b are [batch, channels, H, W] in
/// [-1, 1] (H = W = crop size in the cropping modes).
struct UnpairedBatch {
  at::Tensor real_a;
  at::Tensor real_b;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
};

/// Unpaired A/B images for training. An epoch is max(|A|, |B|) images: A in a shuffled order
/// (reshuffled every epoch), each paired with a B image drawn at random (official
/// `unaligned_dataset`), or both in order (`serial`). Worker threads decode and augment batches
/// ahead of the consumer; every batch depends only on (seed, epoch, step), never on thread timing.
/// In the uncropped preprocess modes images keep their own shapes; with batch_size above 1 every
/// image of a domain must then come out the same shape (DataError otherwise).
class UnpairedLoader {
 public:
  explicit UnpairedLoader(const UnpairedLoaderOptions& options);
  ~UnpairedLoader();
  UnpairedLoader(const UnpairedLoader&) = delete;
  UnpairedLoader& operator=(const UnpairedLoader&) = delete;

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t size_a() const { return static_cast<int64_t>(files_a_.size()); }
  int64_t size_b() const { return static_cast<int64_t>(files_b_.size()); }

  /// The batch for global step `next_step()`, then advances. An image that cannot be decoded
  /// is skipped (named in a warning, once) in favour of the next one in its folder; throws
  /// DataError when a folder has no decodable image at all.
  UnpairedBatch next();
  /// The files skipped so far, each with the reason.
  std::vector<std::string> skipped() const;
  /// Global index (over all epochs) of the batch next() returns.
  int64_t next_step() const { return next_step_; }

 private:
  UnpairedBatch make_batch(int64_t global_step) const;
  int64_t global_batch() const { return options_.batch_size * options_.world_size; }
  int64_t first_item() const { return options_.rank * options_.batch_size; }
  const std::vector<int64_t>& epoch_order_a(int64_t epoch) const;
  // Image `index` of `files`, augmented; when it cannot be decoded, the next usable one, whose
  // path goes to `used`.
  at::Tensor load_usable(const std::vector<std::filesystem::path>& files, int64_t index,
                         const TransformOptions& transform, uint64_t random_seed,
                         std::filesystem::path* used) const;
  // Throws DataError unless `image` has the shape of the domain's first image: a batch of
  // several, and the history pool behind it, need one shape (uncropped modes only).
  void check_same_shape(int domain, const at::Tensor& image,
                        const std::filesystem::path& file) const;
  void worker_loop();

  UnpairedLoaderOptions options_;
  std::vector<std::filesystem::path> files_a_;
  std::vector<std::filesystem::path> files_b_;
  int64_t steps_per_epoch_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::map<int64_t, UnpairedBatch> done_;
  std::exception_ptr error_;
  int64_t next_step_ = 0;   // consumer position
  int64_t next_claim_ = 0;  // next step a worker will build
  bool stopping_ = false;
  mutable std::map<int64_t, std::vector<int64_t>> orders_;         // epoch -> A order (cached)
  mutable std::map<std::filesystem::path, std::string> unusable_;  // file -> why
  mutable std::pair<std::vector<int64_t>, std::filesystem::path> first_shape_[2];  // A, B
  std::vector<std::thread> workers_;
};

}  // namespace cyclegan
