#include "cyclegan/image_io.h"

#include <torch/torch.h>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cyclegan/atomic_file.h"
#include "cyclegan/errors.h"
#include "opencv_image.h"

namespace cyclegan {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::vector<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp",
                                                       ".tif", ".tiff", ".webp"};
  return std::find(kExtensions.begin(), kExtensions.end(), extension) != kExtensions.end();
}

std::vector<fs::path> list_images(const fs::path& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw DataError(folder.string() + ": image folder not found");
  }
  std::vector<fs::path> images;
  int64_t other_files = 0;
  fs::directory_iterator it(folder, error);
  if (error) throw DataError(folder.string() + ": cannot list folder: " + error.message());
  for (const fs::directory_iterator end; it != end; it.increment(error)) {
    if (error) throw DataError(folder.string() + ": cannot list folder: " + error.message());
    std::error_code entry_error;
    const bool regular = it->is_regular_file(entry_error);  // follows symbolic links
    if (entry_error) {
      spdlog::warn("{}: skipped ({})", it->path().string(), entry_error.message());
      continue;
    }
    if (regular && is_image_file(it->path())) {
      images.push_back(it->path());
    } else if (regular) {
      ++other_files;
    }
  }
  if (images.empty()) {
    throw DataError(folder.string() + ": no image files" +
                    (other_files > 0 ? " among its " + std::to_string(other_files) + " files"
                                     : std::string(" (the folder is empty)")) +
                    "; expected .jpg, .jpeg, .png, .bmp, .tif, .tiff or .webp");
  }
  std::sort(images.begin(), images.end());
  return images;
}

namespace {

uint32_t big_endian(const unsigned char* p, int bytes) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

uint32_t little_endian(const unsigned char* p, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

enum class Format { kUnknown, kJpeg, kPng, kBmp, kTiff, kWebp };

Format sniff_format(const unsigned char* data, size_t size) {
  auto starts = [&](const char* magic, size_t length, size_t offset = 0) {
    return size >= offset + length && std::memcmp(data + offset, magic, length) == 0;
  };
  if (starts("\xFF\xD8\xFF", 3)) return Format::kJpeg;
  if (starts("\x89PNG\r\n\x1A\n", 8)) return Format::kPng;
  if (starts("BM", 2)) return Format::kBmp;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return Format::kTiff;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return Format::kWebp;
  return Format::kUnknown;
}

struct HeaderSize {
  int64_t width = -1;  // -1: not found in the header
  int64_t height = -1;
  bool whole_image_buffer = false;  // a progressive JPEG: libjpeg keeps every coefficient
};

// Width and height from a TIFF's first directory (the page OpenCV decodes).
HeaderSize tiff_size(const unsigned char* data, size_t size) {
  HeaderSize found;
  const bool little = data[0] == 'I';
  auto read = [&](size_t at, int bytes) -> int64_t {
    if (at + static_cast<size_t>(bytes) > size) return -1;
    return little ? little_endian(data + at, bytes) : big_endian(data + at, bytes);
  };
  const int64_t directory = read(4, 4);
  const int64_t entries = directory < 0 ? -1 : read(static_cast<size_t>(directory), 2);
  for (int64_t i = 0; i < entries; ++i) {
    const size_t entry = static_cast<size_t>(directory) + 2 + 12 * static_cast<size_t>(i);
    const int64_t tag = read(entry, 2);
    const int64_t type = read(entry + 2, 2);
    if (tag < 0 || type < 0) break;
    if (tag != 256 && tag != 257) continue;  // ImageWidth, ImageLength
    const int64_t value = type == 3 ? read(entry + 8, 2) : type == 4 ? read(entry + 8, 4) : -1;
    (tag == 256 ? found.width : found.height) = value;
  }
  return found;
}

// Width and height from the header alone, for the formats whose header says so plainly.
HeaderSize header_size(Format format, const unsigned char* data, size_t size) {
  HeaderSize found;
  switch (format) {
    case Format::kPng:
      if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
        found = {big_endian(data + 16, 4), big_endian(data + 20, 4)};
      }
      break;
    case Format::kBmp:
      if (size >= 26) {
        const auto height = static_cast<int32_t>(little_endian(data + 22, 4));
        found = {static_cast<int32_t>(little_endian(data + 18, 4)),
                 height < 0 ? -static_cast<int64_t>(height) : height};
      }
      break;
    case Format::kWebp:
      if (size >= 30 && std::memcmp(data + 12, "VP8 ", 4) == 0) {
        found = {little_endian(data + 26, 2) & 0x3FFF, little_endian(data + 28, 2) & 0x3FFF};
      } else if (size >= 25 && std::memcmp(data + 12, "VP8L", 4) == 0) {
        const uint32_t bits = little_endian(data + 21, 4);
        found = {(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
      } else if (size >= 30 && std::memcmp(data + 12, "VP8X", 4) == 0) {
        found = {little_endian(data + 24, 3) + 1, little_endian(data + 27, 3) + 1};
      }
      break;
    case Format::kJpeg: {
      // Walk the marker segments to the first start-of-frame.
      size_t at = 2;
      while (at + 4 <= size) {
        if (data[at] != 0xFF) {  // libjpeg skips stray bytes between segments; so do we
          ++at;
          continue;
        }
        const unsigned char marker = data[at + 1];
        if (marker == 0xFF) {  // fill byte
          ++at;
          continue;
        }
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
          at += 2;
          continue;
        }
        const size_t length = big_endian(data + at + 2, 2);
        const bool frame =
            marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame && at + 9 <= size) {
          found = {big_endian(data + at + 7, 2), big_endian(data + at + 5, 2)};
          found.whole_image_buffer =
              marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE;
          break;
        }
        if (marker == 0xDA) break;              // start of scan before any frame header
        at += 2 + std::max<size_t>(length, 2);  // libjpeg reads a shorter length as 2 too
      }
      break;
    }
    case Format::kTiff:
      found = tiff_size(data, size);
      break;
    default:
      break;
  }
  return found;
}

// A JPEG ends with the end-of-image marker (possibly followed by padding); a PNG with IEND.
// libjpeg decodes a cut-off file without complaint, filling the missing part with grey.
bool looks_complete(Format format, const unsigned char* data, size_t size) {
  const size_t tail = std::min<size_t>(size, 4096);
  const unsigned char* last = data + size - tail;
  if (format == Format::kJpeg) {
    for (size_t i = tail; i >= 2; --i) {
      if (last[i - 2] == 0xFF && last[i - 1] == 0xD9) return true;
    }
    return false;
  }
  if (format == Format::kPng) {
    for (size_t i = 0; i + 4 <= tail; ++i) {
      if (std::memcmp(last + i, "IEND", 4) == 0) return true;
    }
    return false;
  }
  return true;
}

std::string megapixels(double pixels) {
  return fmt::format("{:.1f} megapixels", pixels / (1 << 20));
}

}  // namespace

namespace detail {

std::vector<unsigned char> read_file_bytes(const fs::path& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) throw DataError(path.string() + ": is a folder, not an image");
  errno = 0;
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    const int reason = errno;
    if (!fs::exists(path, error)) throw DataError(path.string() + ": no such file");
    throw DataError(path.string() + ": cannot open file" +
                    (reason != 0 ? std::string(": ") + std::strerror(reason) : std::string()));
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(stream)),
                                   std::istreambuf_iterator<char>());
  if (stream.bad()) throw DataError(path.string() + ": cannot read file");
  if (bytes.empty()) throw DataError(path.string() + ": file is empty (0 bytes)");
  return bytes;
}

cv::Mat decode_rgb8(const unsigned char* data, size_t size, const std::string& name,
                    int64_t max_pixels) {
  if (size == 0) throw DataError(name + ": file is empty (0 bytes)");
  const Format format = sniff_format(data, size);
  if (format == Format::kUnknown) {
    throw DataError(name +
                    ": not an image (the content is not JPEG, PNG, BMP, TIFF or WebP, whatever "
                    "the file name says)");
  }
  if (!looks_complete(format, data, size)) {
    throw DataError(name + ": truncated " + (format == Format::kJpeg ? "JPEG" : "PNG") +
                    " (the file ends before the image does)");
  }
  int flags = cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH;  // IMREAD_COLOR applies EXIF orientation
  const HeaderSize header = header_size(format, data, size);
  if (header.width < 0 || header.height < 0) {
    // Decoding without knowing the size would let the file choose how much memory we spend.
    throw DataError(name + ": cannot find the image size in the header (corrupt?)");
  }
  if (header.width == 0 || header.height == 0) {
    throw DataError(
        fmt::format("{}: the header says {}x{} pixels", name, header.width, header.height));
  }
  // In double: two 32-bit sides can overflow int64_t; the product is exact below 2^53.
  const double pixels = static_cast<double>(header.width) * static_cast<double>(header.height);
  if (pixels > static_cast<double>(max_pixels)) {
    int reduction = 0;
    if (format == Format::kJpeg && !header.whole_image_buffer) {
      for (int factor : {2, 4, 8}) {
        if ((header.width / factor) * (header.height / factor) <= max_pixels) {
          reduction = factor;
          break;
        }
      }
    }
    if (reduction == 0) {
      throw DataError(fmt::format(
          "{}: {}x{} pixels ({}) is above the {} decoding limit; downscale the image first", name,
          header.width, header.height, megapixels(pixels),
          megapixels(static_cast<double>(max_pixels))));
    }
    flags = reduction == 2   ? cv::IMREAD_REDUCED_COLOR_2
            : reduction == 4 ? cv::IMREAD_REDUCED_COLOR_4
                             : cv::IMREAD_REDUCED_COLOR_8;
    spdlog::warn("{}: {}x{} pixels ({}) decoded at 1/{} scale to stay under the {} limit", name,
                 header.width, header.height, megapixels(pixels), reduction,
                 megapixels(static_cast<double>(max_pixels)));
  }
  cv::Mat decoded;
  try {
    const cv::Mat encoded(1, static_cast<int>(size), CV_8UC1, const_cast<unsigned char*>(data));
    decoded = cv::imdecode(encoded, flags);
  } catch (const cv::Exception& e) {
    throw DataError(name + ": cannot decode image: " + e.err);
  }
  if (decoded.empty()) {
    throw DataError(name + ": cannot decode image (corrupt, or a variant OpenCV cannot read)");
  }
  if (decoded.depth() == CV_16U) {
    decoded.convertTo(decoded, CV_8U, 1.0 / 257.0);
  } else if (decoded.depth() != CV_8U) {
    cv::Mat scaled;
    cv::normalize(decoded, scaled, 0, 255, cv::NORM_MINMAX, CV_8U);
    decoded = scaled;
  }
  if (decoded.channels() != 3) {
    throw DataError(name + ": unsupported channel count " + std::to_string(decoded.channels()));
  }
  cv::Mat rgb;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat decode_rgb8(const fs::path& path, int64_t max_pixels) {
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  return decode_rgb8(bytes.data(), bytes.size(), path.string(), max_pixels);
}

at::Tensor levels8_to_tensor(const cv::Mat& levels) {
  // Official pipeline: ToTensor() (x / 255) then Normalize(0.5, 0.5), computed in the same float
  // operations so imported PyTorch models see identical inputs. Written straight into the
  // tensor's planes: loader threads must not start LibTorch parallel regions that compete with
  // the training step for cores.
  CV_Assert(levels.type() == CV_8UC3 || levels.type() == CV_8UC1);
  const size_t channels = static_cast<size_t>(levels.channels());
  at::Tensor chw =
      torch::empty({static_cast<int64_t>(channels), levels.rows, levels.cols}, torch::kFloat32);
  float* planes = chw.data_ptr<float>();
  const size_t plane = static_cast<size_t>(levels.rows) * static_cast<size_t>(levels.cols);
  for (int y = 0; y < levels.rows; ++y) {
    const uint8_t* row = levels.ptr<uint8_t>(y);
    const size_t offset = static_cast<size_t>(y) * static_cast<size_t>(levels.cols);
    for (int x = 0; x < levels.cols; ++x) {
      for (size_t c = 0; c < channels; ++c) {
        const float unit = static_cast<float>(row[channels * static_cast<size_t>(x) + c]) / 255.0f;
        planes[c * plane + offset + static_cast<size_t>(x)] = (unit - 0.5f) / 0.5f;
      }
    }
  }
  return chw;
}

cv::Mat rgb8_with_channels(const cv::Mat& rgb, int64_t channels) {
  if (channels == 3) return rgb;
  TORCH_CHECK(channels == 1, "images have 1 or 3 channels, not ", channels);
  CV_Assert(rgb.type() == CV_8UC3);
  cv::Mat luma(rgb.rows, rgb.cols, CV_8UC1);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* in = rgb.ptr<uint8_t>(y);
    uint8_t* out = luma.ptr<uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const uint32_t r = in[3 * x];
      const uint32_t g = in[3 * x + 1];
      const uint32_t b = in[3 * x + 2];
      out[x] = static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    }
  }
  return luma;
}

}  // namespace detail

at::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                        int64_t max_pixels) {
  return detail::levels8_to_tensor(detail::decode_rgb8(data, size, name, max_pixels));
}

at::Tensor read_image(const fs::path& path, int64_t max_pixels, int64_t channels) {
  return detail::levels8_to_tensor(
      detail::rgb8_with_channels(detail::decode_rgb8(path, max_pixels), channels));
}

std::vector<unsigned char> to_rgb8(const at::Tensor& image, Quantization quantization) {
  at::Tensor chw = image.dim() == 4 ? image[0] : image;
  TORCH_CHECK(chw.dim() == 3 && (chw.size(0) == 3 || chw.size(0) == 1),
              "to_rgb8 expects [3, H, W] or [1, H, W], got ", image.sizes());
  if (chw.size(0) == 1) chw = chw.expand({3, chw.size(1), chw.size(2)});  // as tensor2im tiles
  at::Tensor levels = chw.detach().to(torch::kCPU, torch::kFloat32);
  if (quantization == Quantization::kTruncate) {
    // tensor2im: (x + 1) / 2 * 255, then numpy's astype(uint8) truncates.
    levels = levels.add(1.0).div_(2.0).mul_(255.0).clamp_(0, 255).trunc_();
  } else {
    levels = levels.add(1.0).mul_(127.5).round_().clamp_(0, 255);
  }
  at::Tensor bytes = levels.to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  return std::vector<unsigned char>(bytes.data_ptr<uint8_t>(),
                                    bytes.data_ptr<uint8_t>() + bytes.numel());
}

void write_image(const fs::path& path, const at::Tensor& image, Quantization quantization) {
  at::Tensor chw = image.dim() == 4 ? image[0] : image;
  std::vector<unsigned char> rgb = to_rgb8(chw, quantization);
  cv::Mat rgb_mat(static_cast<int>(chw.size(1)), static_cast<int>(chw.size(2)), CV_8UC3,
                  rgb.data());
  cv::Mat bgr;
  cv::cvtColor(rgb_mat, bgr, cv::COLOR_RGB2BGR);
  std::vector<unsigned char> encoded;
  try {
    if (!cv::imencode(path.extension().string(), bgr, encoded)) {
      throw DataError(path.string() + ": cannot encode image for extension '" +
                      path.extension().string() + "'");
    }
  } catch (const cv::Exception& e) {
    throw DataError(path.string() + ": cannot encode image: " + e.what());
  }
  std::string error;
  if (!write_file_atomically(path, encoded.data(), encoded.size(), &error)) {
    throw DataError(path.string() + ": cannot write image: " + error);
  }
}

}  // namespace cyclegan
