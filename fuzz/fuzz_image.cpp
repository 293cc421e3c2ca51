// libFuzzer target: the input bytes as an encoded image, through decode_image() and the
// training pipeline (load_training_image_from_bytes(): decode, resize, crop, flip). A DataError
// is the expected answer to bad input. A crash, a sanitizer report, another exception escaping,
// an allocation above -rss_limit_mb (decode_image() must refuse huge images from the header) or
// a result of the wrong shape or range is a finding. scripts/fuzz.sh runs it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"

namespace {

constexpr int64_t kLoadSize = 36;
constexpr int64_t kCropSize = 32;
constexpr int64_t kMaxTransformPixels = int64_t{1} << 20;

// Aborts unless `image` is [3, H, W] float in [-1, 1] (H, W > 0; both `side` when given).
void check_image(const at::Tensor& image, const char* what, int64_t side) {
  const bool shape_ok = image.defined() && image.dim() == 3 && image.size(0) == 3 &&
                        image.size(1) > 0 && image.size(2) > 0 &&
                        (side == 0 || (image.size(1) == side && image.size(2) == side)) &&
                        image.scalar_type() == at::kFloat;
  if (shape_ok && image.min().item<float>() >= -1.0f && image.max().item<float>() <= 1.0f) return;
  std::ostringstream description;
  if (image.defined()) {
    description << image.sizes() << " " << image.scalar_type();
    if (image.numel() > 0) {
      description << " in [" << image.min().item<float>() << ", " << image.max().item<float>()
                  << "]";
    }
  } else {
    description << "an undefined tensor";
  }
  std::fprintf(stderr, "fuzz_image: %s returned %s; expected [3, H, W] float in [-1, 1]\n", what,
               description.str().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // decode_image() warns when it decodes a huge JPEG at reduced scale; keep the fuzzer's log short.
  spdlog::set_level(spdlog::level::err);
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  at::Tensor decoded;
  try {
    decoded = cyclegan::decode_image(data, size, "fuzz.img");
  } catch (const cyclegan::DataError&) {
    return 0;  // the training pipeline decodes the same way: it would refuse the input too
  }
  check_image(decoded, "decode_image", 0);
  // A large image (up to kMaxImagePixels is allowed) would only be decoded a second time, slowly
  // under ASan, before a resize: the transforms are exercised on the images up to a megapixel.
  if (decoded.size(1) * decoded.size(2) > kMaxTransformPixels) return 0;
  cyclegan::TransformOptions transform;
  transform.load_size = kLoadSize;
  transform.crop_size = kCropSize;
  transform.flip = true;
  // Any seed: the crop position and flip come from it.
  const uint64_t seed = size;
  check_image(cyclegan::load_training_image_from_bytes(data, size, "fuzz.img", transform, seed),
              "load_training_image_from_bytes", kCropSize);
  return 0;
}
