#include "cyclegan/image_io.h"

#include <torch/torch.h>

#include <algorithm>
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
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    if (entry.is_regular_file(error) && is_image_file(entry.path())) images.push_back(entry.path());
  }
  if (error) throw DataError(folder.string() + ": cannot list folder: " + error.message());
  if (images.empty()) {
    throw DataError(folder.string() +
                    ": no image files (expected .jpg, .jpeg, .png, .bmp, .tif, .tiff or .webp)");
  }
  std::sort(images.begin(), images.end());
  return images;
}

namespace detail {

cv::Mat decode_rgb8(const fs::path& path) {
  // imread cannot report why it failed; read the bytes ourselves to tell missing from corrupt.
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw DataError(path.string() + ": cannot open file");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(stream)),
                                   std::istreambuf_iterator<char>());
  if (bytes.empty()) throw DataError(path.string() + ": file is empty");
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw DataError(path.string() + ": cannot decode image: " + e.what());
  }
  if (decoded.empty()) {
    throw DataError(path.string() + ": cannot decode image (corrupt, truncated or not an image)");
  }
  if (decoded.depth() == CV_16U) {
    decoded.convertTo(decoded, CV_8U, 1.0 / 257.0);
  } else if (decoded.depth() != CV_8U) {
    cv::Mat scaled;
    cv::normalize(decoded, scaled, 0, 255, cv::NORM_MINMAX, CV_8U);
    decoded = scaled;
  }
  cv::Mat rgb;
  switch (decoded.channels()) {
    case 1:
      cv::cvtColor(decoded, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGB);
      break;
    default:
      throw DataError(path.string() + ": unsupported channel count " +
                      std::to_string(decoded.channels()));
  }
  return rgb;
}

at::Tensor rgb8_to_tensor(const cv::Mat& rgb) {
  // Official pipeline: ToTensor() (x / 255) then Normalize(0.5, 0.5), computed in the same float
  // operations so imported PyTorch models see identical inputs. Written straight into the
  // tensor's planes: loader threads must not start LibTorch parallel regions that compete with
  // the training step for cores.
  CV_Assert(rgb.type() == CV_8UC3);
  at::Tensor chw = torch::empty({3, rgb.rows, rgb.cols}, torch::kFloat32);
  float* planes = chw.data_ptr<float>();
  const size_t plane = static_cast<size_t>(rgb.rows) * static_cast<size_t>(rgb.cols);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(y);
    const size_t offset = static_cast<size_t>(y) * static_cast<size_t>(rgb.cols);
    for (int x = 0; x < rgb.cols; ++x) {
      for (size_t c = 0; c < 3; ++c) {
        const float unit = static_cast<float>(row[3 * x + c]) / 255.0f;
        planes[c * plane + offset + static_cast<size_t>(x)] = (unit - 0.5f) / 0.5f;
      }
    }
  }
  return chw;
}

}  // namespace detail

at::Tensor read_image(const fs::path& path) {
  return detail::rgb8_to_tensor(detail::decode_rgb8(path));
}

std::vector<unsigned char> to_rgb8(const at::Tensor& image, Quantization quantization) {
  at::Tensor chw = image.dim() == 4 ? image[0] : image;
  TORCH_CHECK(chw.dim() == 3 && chw.size(0) == 3, "to_rgb8 expects [3, H, W], got ", image.sizes());
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
