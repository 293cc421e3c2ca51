// Writes the seed corpus of fuzz_image: one tiny file per format variant the decoder meets
// (PNG 8/16-bit gray, RGB, RGBA, palette, interlaced; JPEG baseline, progressive, gray, restart
// markers; BMP; WebP lossy, lossless, alpha; TIFF none/LZW/deflate/PackBits, 16-bit). Built and run
// by fuzz/make_image_corpus.sh; the files are committed, so fuzzing needs neither.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace {

std::string out_dir;

void write(const std::string& name, const std::vector<unsigned char>& bytes) {
  std::ofstream(out_dir + "/" + name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  std::printf("%-28s %5zu bytes\n", name.c_str(), bytes.size());
}

void encode(const std::string& name, const cv::Mat& image, const std::vector<int>& params = {}) {
  std::vector<unsigned char> bytes;
  if (!cv::imencode(name.substr(name.rfind('.')), image, bytes, params)) {
    std::fprintf(stderr, "cannot encode %s\n", name.c_str());
    std::exit(1);
  }
  write(name, bytes);
}

// 12x8 BGR: a horizontal gradient, a vertical one and a white top-left pixel.
cv::Mat pattern() {
  cv::Mat image(8, 12, CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      image.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uint8_t>(20 * x), static_cast<uint8_t>(30 * y),
                    static_cast<uint8_t>(x < 6 ? 220 : 30));
    }
  }
  image.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 255, 255);
  return image;
}

void append_chunk(std::vector<unsigned char>& png, const char* type,
                  const std::vector<unsigned char>& data) {
  const uint32_t length = static_cast<uint32_t>(data.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    png.push_back(static_cast<unsigned char>(length >> shift));
  std::vector<unsigned char> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  const uint32_t crc = static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size())));
  png.insert(png.end(), body.begin(), body.end());
  for (int shift = 24; shift >= 0; shift -= 8)
    png.push_back(static_cast<unsigned char>(crc >> shift));
}

// Appends the compressed scanlines `raw` (IDAT) and the end chunk.
void finish_png(std::vector<unsigned char>& png, const std::vector<unsigned char>& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<unsigned char> compressed(size);
  compress(compressed.data(), &size, raw.data(), static_cast<uLong>(raw.size()));
  compressed.resize(size);
  append_chunk(png, "IDAT", compressed);
  append_chunk(png, "IEND", {});
}

// OpenCV cannot write palette PNGs: 4 colours at 2 bits per pixel, one of them transparent.
std::vector<unsigned char> palette_png() {
  const int width = 12, height = 8;
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  append_chunk(png, "IHDR", {0, 0, 0, width, 0, 0, 0, height, 2, 3, 0, 0, 0});
  append_chunk(png, "PLTE", {220, 30, 30, 30, 30, 220, 255, 255, 255, 0, 200, 0});
  append_chunk(png, "tRNS", {255, 255, 255, 0});
  std::vector<unsigned char> raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    for (int byte = 0; byte < width / 4; ++byte)
      raw.push_back(static_cast<unsigned char>(0x1B * (y % 3) + byte));
  }
  finish_png(png, raw);
  return png;
}

// Nor interlaced ones: the pattern as 8-bit RGB in Adam7's seven passes.
std::vector<unsigned char> interlaced_png(const cv::Mat& bgr) {
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  append_chunk(png, "IHDR",
               {0, 0, 0, static_cast<unsigned char>(bgr.cols), 0, 0, 0,
                static_cast<unsigned char>(bgr.rows), 8, 2, 0, 0, 1});
  const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                            {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};  // x0, y0, dx, dy
  std::vector<unsigned char> raw;
  for (const auto& pass : passes) {
    if (pass[0] >= bgr.cols || pass[1] >= bgr.rows) continue;  // empty pass: no rows at all
    for (int y = pass[1]; y < bgr.rows; y += pass[3]) {
      raw.push_back(0);  // filter: none
      for (int x = pass[0]; x < bgr.cols; x += pass[2]) {
        const cv::Vec3b pixel = bgr.at<cv::Vec3b>(y, x);
        raw.insert(raw.end(), {pixel[2], pixel[1], pixel[0]});
      }
    }
  }
  finish_png(png, raw);
  return png;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  const cv::Mat bgr = pattern();
  cv::Mat gray, bgra, bgr16, gray16;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  for (int x = 0; x < bgra.cols; ++x) bgra.at<cv::Vec4b>(0, x)[3] = static_cast<uint8_t>(20 * x);
  bgr.convertTo(bgr16, CV_16U, 257.0);
  gray.convertTo(gray16, CV_16U, 257.0);

  encode("rgb.png", bgr);
  encode("rgba.png", bgra);
  encode("gray.png", gray);
  encode("rgb16.png", bgr16);
  encode("gray16.png", gray16);
  encode("filtered.png", bgr, {cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_FILTERED});
  write("interlaced.png", interlaced_png(bgr));
  write("palette.png", palette_png());

  encode("baseline.jpg", bgr, {cv::IMWRITE_JPEG_QUALITY, 90});
  encode("progressive.jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  encode("gray.jpg", gray);
  encode("restart_optimized.jpg", bgr,
         {cv::IMWRITE_JPEG_RST_INTERVAL, 1, cv::IMWRITE_JPEG_OPTIMIZE, 1});

  encode("rgb.bmp", bgr);
  encode("gray.bmp", gray);

  encode("lossy.webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 80});
  encode("lossless.webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 101});
  encode("alpha.webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 101});

  encode("rgb.tif", bgr, {cv::IMWRITE_TIFF_COMPRESSION, 1});
  encode("lzw.tif", bgr, {cv::IMWRITE_TIFF_COMPRESSION, 5});
  encode("deflate_gray.tif", gray, {cv::IMWRITE_TIFF_COMPRESSION, 8});
  encode("packbits_rgba.tif", bgra, {cv::IMWRITE_TIFF_COMPRESSION, 32773});
  encode("rgb16.tif", bgr16);
  return 0;
}
