#include "cyclegan/synthetic.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "cyclegan/errors.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;

// Raw mt19937_64 bits only: the std distributions differ between standard libraries, and the same
// seed must give the same files everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  std::uint64_t raw() { return engine_(); }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  // Irwin-Hall sum of four 16-bit uniforms cut from one draw: roughly normal with unit variance,
  // plenty for texture noise, and a quarter of the generator calls (the hot spot).
  double noise() {
    const std::uint64_t bits = engine_();
    double sum = 0;
    for (int shift = 0; shift < 64; shift += 16)
      sum += static_cast<double>((bits >> shift) & 0xffff);
    return (sum / 65536.0 - 2.0) * std::sqrt(3.0);
  }

 private:
  std::mt19937_64 engine_;
};

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double clamp01(double v) { return std::min(1.0, std::max(0.0, v)); }
cv::Vec3d mix(const cv::Vec3d& a, const cv::Vec3d& b, double t) { return a * (1.0 - t) + b * t; }
cv::Vec3d unit(const cv::Vec3d& v) { return v / cv::norm(v); }
cv::Vec3b to_pixel(const cv::Vec3d& c) {
  return {cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]),
          cv::saturate_cast<uchar>(c[2])};
}

// Hue in degrees, saturation and value in [0, 1]; returns BGR in [0, 255].
cv::Vec3d hsv(double hue, double sat, double val) {
  cv::Mat3f pixel(1, 1,
                  cv::Vec3f(static_cast<float>(std::fmod(hue + 720.0, 360.0)),
                            static_cast<float>(sat), static_cast<float>(val)));
  cv::cvtColor(pixel, pixel, cv::COLOR_HSV2BGR);
  return cv::Vec3d(pixel(0, 0)) * 255.0;
}

cv::Mat standardised(const cv::Mat& field) {
  cv::Scalar mean, dev;
  cv::meanStdDev(field, mean, dev);
  return (field - mean[0]) / std::max(dev[0], 1e-9);
}

// Zero-mean, unit-deviation noise with features about `sigma` pixels wide.
cv::Mat noise_field(Rng& rng, int size, double sigma) {
  cv::Mat field(size, size, CV_64F);
  for (auto it = field.begin<double>(); it != field.end<double>(); ++it) *it = rng.noise();
  cv::GaussianBlur(field, field, cv::Size(), sigma);
  return standardised(field);
}

struct Light {
  cv::Vec3d dir;   // towards the light
  cv::Vec3d half;  // Blinn half-vector for a viewer on +z
};

// One fruit: a polar outline around a sphere-shaded disc plus surface details.
struct Body {
  double cx = 0, cy = 0, radius = 1;  // pixels
  double squash = 1, tilt = 0;        // horizontal stretch; rotation in radians
  double dimple = 0, narrowing = 0, lobes = 0, lobe_phase = 0;
  cv::Vec3d primary, secondary, blush_dir;  // secondary shows where blush_dir faces
  double blush = 0, spread = 0;
  double streaks = 0, stripe_freq = 0, speckle = 0;  // apple skin
  double bump = 0, pits = 0;                         // orange peel
  double gloss = 0, shininess = 1;
  cv::Vec3d cavity_dir, spot_dir, spot_color;  // stem cavity (soft) and stem/navel spot (hard)
  double cavity = 0, spot_size = 0;
};

// Both domains draw their backgrounds from this one distribution, so only the fruit differs.
// Returns the row where the table top starts (the image height when there is no table).
double draw_background(cv::Mat& image, Rng& rng) {
  const int size = image.rows;
  const double hue = rng.uniform(0, 360);
  const cv::Vec3d top = hsv(hue, rng.uniform(0.03, 0.35), rng.uniform(0.55, 0.95));
  const cv::Vec3d low =
      hsv(hue + rng.uniform(-40, 40), rng.uniform(0.03, 0.35), rng.uniform(0.4, 0.9));
  const double angle = rng.uniform(0.25, 0.75) * kPi, gx = std::cos(angle), gy = std::sin(angle);
  const double table_top = rng.chance(0.65) ? size * rng.uniform(0.5, 0.78) : size;
  const bool wood = rng.chance(0.5);
  const cv::Vec3d table =
      wood ? hsv(rng.uniform(18, 38), rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.65))
           : hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.3), rng.uniform(0.35, 0.9));
  const double grain = 2 * kPi * rng.uniform(12, 30) / size,
               wave = 2 * kPi * rng.uniform(1, 3) / size;
  const double phase = rng.uniform(0, 2 * kPi);
  for (int y = 0; y < size; ++y) {
    auto* row = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size; ++x) {
      const double u = (x + 0.5) / size - 0.5, v = (y + 0.5) / size - 0.5;
      cv::Vec3d color = mix(top, low, clamp01(0.5 + u * gx + v * gy));
      const double on_table = clamp01(y + 1.0 - table_top);  // anti-aliased table edge
      if (on_table > 0) {
        double shade = 0.85 + 0.25 * (y - table_top) / std::max(1.0, size - table_top);
        if (wood) shade *= 1.0 + 0.07 * std::sin(y * grain + 0.8 * std::sin(x * wave + phase));
        color = mix(color, table * shade, on_table);
      }
      row[x] = to_pixel(color);
    }
  }
  return table_top;
}

void draw_shadow(cv::Mat& image, const Body& body, const Light& light) {
  cv::Mat mask = cv::Mat::zeros(image.size(), CV_32F);
  const cv::Point2f centre(body.cx - light.dir[0] * body.radius * 0.6 - 0.5,
                           body.cy + body.radius * 0.85 - 0.5);
  const cv::Size2f axes(2.1 * body.radius * body.squash, 0.55 * body.radius);
  cv::ellipse(mask, cv::RotatedRect(centre, axes, 0), cv::Scalar(1.0), -1);
  cv::GaussianBlur(mask, mask, cv::Size(), std::max(0.8, body.radius * 0.18));
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      auto& pixel = image.at<cv::Vec3b>(y, x);
      pixel = to_pixel(cv::Vec3d(pixel) * (1.0 - 0.45 * mask.at<float>(y, x)));
    }
  }
}

void draw_body(cv::Mat& image, const Body& body, const Light& light, Rng& rng) {
  const int size = image.rows;
  const double r = body.radius, c = std::cos(body.tilt), s = std::sin(body.tilt);
  const cv::Mat fine = noise_field(rng, size, std::max(0.5, r * 0.025));
  const cv::Mat coarse = noise_field(rng, size, std::max(1.0, r * 0.3));
  cv::Mat slope_x, slope_y;  // of the peel's height field, for pebbled normals
  cv::Sobel(fine, slope_x, CV_64F, 1, 0);
  cv::Sobel(fine, slope_y, CV_64F, 0, 1);
  slope_x = standardised(slope_x);
  slope_y = standardised(slope_y);
  const double extent = r * 1.2 * body.squash + 2;
  const int x0 = std::max(0, static_cast<int>(body.cx - extent));
  const int y0 = std::max(0, static_cast<int>(body.cy - extent));
  const int x1 = std::min(size, static_cast<int>(body.cx + extent) + 1);
  const int y1 = std::min(size, static_cast<int>(body.cy + extent) + 1);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      const double px = (x + 0.5 - body.cx) / r, py = (y + 0.5 - body.cy) / r;
      const double fx = (c * px + s * py) / body.squash, fy = -s * px + c * py;
      const double rho = std::hypot(fx, fy), theta = std::atan2(fy, fx);
      double from_top = theta + kPi / 2;
      if (from_top > kPi) from_top -= 2 * kPi;
      const double outline = 1.0 - body.dimple * std::exp(-from_top * from_top / 0.08) -
                             body.narrowing * std::pow(std::max(0.0, std::sin(theta)), 3) +
                             body.lobes * std::sin(5 * theta + body.lobe_phase);
      const double alpha = clamp01((outline - rho) * r + 0.5);
      if (alpha <= 0) continue;
      const double q = std::min(rho / outline, 0.995);  // radial position on the sphere
      const double scale = q / std::max(std::hypot(px, py), 1e-9);
      const cv::Vec3d sphere(px * scale, py * scale, std::sqrt(1.0 - q * q));
      const cv::Vec3d n = unit(
          sphere - body.bump * cv::Vec3d(slope_x.at<double>(y, x), slope_y.at<double>(y, x), 0.0));
      const double grain = fine.at<double>(y, x), blotch = coarse.at<double>(y, x);
      const double t =
          clamp01(body.blush + body.spread * sphere.dot(body.blush_dir) + 0.15 * blotch);
      cv::Vec3d color = mix(body.primary, body.secondary, t) * (1.0 + body.pits * grain);
      const double longitude = std::atan2(sphere[0], sphere[2]);
      const double stripe = 0.5 + 0.5 * std::sin(body.stripe_freq * longitude + 2.0 * blotch);
      color *= 1.0 - body.streaks * stripe * (1.0 - t);
      if (body.speckle > 0 && rng.uniform() < body.speckle) {
        color = mix(color, cv::Vec3d(130, 215, 235), 0.3);
      }
      const double cavity = body.cavity * std::exp(-(1.0 - sphere.dot(body.cavity_dir)) / 0.04);
      color = mix(color, cv::Vec3d(60, 150, 150), 0.5 * cavity);
      const double spot_distance = 1.0 - sphere.dot(body.spot_dir);
      color = mix(color, body.spot_color,
                  clamp01((body.spot_size - spot_distance) / (0.4 * body.spot_size + 1e-9)));
      const double shade = (0.4 + 0.7 * std::max(0.0, n.dot(light.dir))) * (1.0 - 0.6 * cavity);
      const double spec = body.gloss * std::pow(std::max(0.0, n.dot(light.half)), body.shininess);
      auto& pixel = image.at<cv::Vec3b>(y, x);
      pixel =
          to_pixel(mix(cv::Vec3d(pixel), color * shade + cv::Vec3d(250, 252, 255) * spec, alpha));
    }
  }
}

Body make_apple(Rng& rng, double cx, double cy, double radius) {
  Body b;
  b.cx = cx, b.cy = cy, b.radius = radius;
  b.squash = rng.uniform(1.02, 1.12), b.tilt = rng.uniform(-0.3, 0.3);
  b.dimple = rng.uniform(0.05, 0.12), b.narrowing = rng.uniform(0.05, 0.14);
  b.lobes = rng.uniform(0, 0.02), b.lobe_phase = rng.uniform(0, 2 * kPi);
  const double kind = rng.uniform();
  if (kind < 0.55) {  // crimson with brighter red patches
    b.primary = hsv(rng.uniform(348, 358), rng.uniform(0.75, 0.92), rng.uniform(0.45, 0.65));
    b.secondary = hsv(rng.uniform(0, 8), rng.uniform(0.75, 0.9), rng.uniform(0.75, 0.9));
    b.blush = rng.uniform(0.0, 0.3), b.spread = 0.5;
  } else if (kind < 0.8) {  // red blush over yellow-green
    b.primary = hsv(rng.uniform(354, 366), rng.uniform(0.7, 0.9), rng.uniform(0.6, 0.8));
    b.secondary = hsv(rng.uniform(55, 80), rng.uniform(0.55, 0.75), rng.uniform(0.7, 0.85));
    b.blush = rng.uniform(0.2, 0.5), b.spread = rng.uniform(0.6, 0.9);
  } else {  // yellowish red
    b.primary = hsv(rng.uniform(358, 370), rng.uniform(0.75, 0.9), rng.uniform(0.7, 0.85));
    b.secondary = hsv(rng.uniform(40, 52), rng.uniform(0.6, 0.75), rng.uniform(0.8, 0.95));
    b.blush = rng.uniform(0.1, 0.3), b.spread = rng.uniform(0.5, 0.8);
  }
  b.blush_dir = unit({rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.5, 1)});
  b.streaks = rng.uniform(0.05, 0.2), b.stripe_freq = std::round(rng.uniform(8, 16));
  b.speckle = rng.uniform(0.01, 0.04), b.gloss = rng.uniform(0.4, 0.75);
  b.shininess = rng.uniform(20, 45), b.cavity = rng.uniform(0.3, 0.5);
  b.cavity_dir = {0.85 * std::sin(b.tilt), -0.85 * std::cos(b.tilt), 0.53};
  b.spot_dir = {0, 0, 1};
  return b;
}

Body make_orange(Rng& rng, double cx, double cy, double radius) {
  Body b;
  b.cx = cx, b.cy = cy, b.radius = radius;
  b.squash = rng.uniform(0.98, 1.06), b.tilt = rng.uniform(-0.2, 0.2);
  b.lobes = rng.uniform(0, 0.012), b.lobe_phase = rng.uniform(0, 2 * kPi);
  b.primary = hsv(rng.uniform(22, 32), rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0));
  b.secondary = hsv(rng.uniform(32, 42), rng.uniform(0.8, 0.95), rng.uniform(0.85, 1.0));
  b.blush = rng.uniform(0, 0.3), b.spread = rng.uniform(0.2, 0.4);
  b.blush_dir = unit({rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.5, 1)});
  b.bump = rng.uniform(0.05, 0.1), b.pits = 0.05;
  b.gloss = rng.uniform(0.25, 0.45), b.shininess = rng.uniform(8, 16);
  const double kind = rng.uniform(), angle = rng.uniform(0.09, 0.14);
  b.spot_size = 1.0 - std::cos(angle);
  if (kind < 0.6) {  // green stem scar on top
    b.spot_dir = unit({rng.uniform(-0.15, 0.15) - 0.8 * std::sin(b.tilt), -0.8, 0.55});
    b.spot_color = hsv(rng.uniform(70, 100), 0.5, 0.45);
  } else if (kind < 0.85) {  // navel facing the camera
    b.spot_dir = unit({rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.35), 1.0});
    b.spot_color = hsv(rng.uniform(25, 35), 0.7, 0.55);
  } else {  // facing away: no spot
    b.spot_size = 0, b.spot_dir = {0, 0, 1};
  }
  return b;
}

void draw_stem_and_leaf(cv::Mat& image, const Body& b, Rng& rng) {
  const double c = std::cos(b.tilt), s = std::sin(b.tilt), r = b.radius;
  // Fruit frame (radius units, y up is negative) to OpenCV's pixel-centre coordinates.
  auto at = [&](double fx, double fy) {
    return cv::Point2d(b.cx + r * (c * fx * b.squash - s * fy) - 0.5,
                       b.cy + r * (s * fx * b.squash + c * fy) - 0.5);
  };
  auto fixed = [](cv::Point2d p) {
    return cv::Point(std::lround(p.x * 16), std::lround(p.y * 16));
  };
  const double base = -(1.0 - b.dimple) + 0.08, length = rng.uniform(0.3, 0.5);
  const double bend = rng.uniform(-0.35, 0.35);
  std::vector<cv::Point> stem;
  for (int i = 0; i <= 6; ++i) {
    const double t = i / 6.0;
    stem.push_back(fixed(at(bend * t * t * length, base - t * length)));
  }
  const cv::Vec3d brown = hsv(rng.uniform(20, 35), rng.uniform(0.5, 0.7), rng.uniform(0.25, 0.45));
  const int thickness = std::max(1, static_cast<int>(std::lround(r * 0.09)));
  cv::polylines(image, stem, false, cv::Scalar(brown), thickness, cv::LINE_AA, 4);
  if (!rng.chance(0.45)) return;
  const double along = rng.uniform(0.3, 0.7), side = rng.chance(0.5) ? 1.0 : -1.0;
  const double rise = rng.uniform(0.15, 0.7), leaf = rng.uniform(0.45, 0.75);  // radius units
  const cv::Point2d attach = at(bend * along * along * length, base - along * length);
  const cv::Point2d tip =
      at(bend * along * along * length + side * std::cos(rise) * leaf / b.squash,
         base - along * length - std::sin(rise) * leaf);
  const cv::Point2d mid = (attach + tip) * 0.5;
  const double degrees = std::atan2(tip.y - attach.y, tip.x - attach.x) * 180.0 / kPi;
  const cv::Vec3d green =
      hsv(rng.uniform(85, 120), rng.uniform(0.55, 0.8), rng.uniform(0.35, 0.55));
  const cv::Size2f axes(static_cast<float>(leaf * r), static_cast<float>(leaf * r * 0.38));
  cv::ellipse(image, cv::RotatedRect(mid, axes, static_cast<float>(degrees)), cv::Scalar(green), -1,
              cv::LINE_AA);
  // A lighter, narrower inner ellipse reads as the lit half of the leaf.
  const cv::Size2f inner(axes.width * 0.8f, axes.height * 0.45f);
  cv::ellipse(image, cv::RotatedRect(mid, inner, static_cast<float>(degrees)),
              cv::Scalar(green * 1.35), -1, cv::LINE_AA);
}

// A scene's backdrop (background, then light, from `rng` in that order); `table_top` receives
// the row where the table starts (the image height when there is none).
Light draw_backdrop(cv::Mat& image, Rng& rng, double& table_top) {
  table_top = draw_background(image, rng);
  Light light;
  light.dir = unit({rng.uniform(-0.7, 0.7), rng.uniform(-0.8, -0.3), 0.75});
  light.half = unit(light.dir + cv::Vec3d(0, 0, 1));
  return light;
}

struct Placement {
  double cx, cy, radius;
};

// Where fruit `i` of `count` goes: on a table it rests on it; otherwise the backdrop is a plain
// wall behind it.
Placement place_fruit(Rng& rng, int size, int count, int i, double table_top) {
  const double radius = size * (count == 1 ? rng.uniform(0.2, 0.4) : rng.uniform(0.15, 0.26));
  double cx = size * (count == 1 ? rng.uniform(0.3, 0.7) : rng.uniform(0.2, 0.4) + 0.4 * i);
  double cy = table_top < size
                  ? table_top + rng.uniform(0.1, 0.6) * (size - table_top) - 0.85 * radius
                  : size * rng.uniform(0.3, 0.7);
  cx = std::clamp(cx, 0.8 * radius, size - 0.8 * radius);
  cy = std::clamp(cy, 0.8 * radius, size - 0.8 * radius);
  return {cx, cy, radius};
}

// Nearer fruit (lower in the frame) is drawn last so it overlaps the farther one.
void sort_far_to_near(std::vector<Body>& bodies) {
  std::sort(bodies.begin(), bodies.end(),
            [](const Body& a, const Body& b) { return a.cy + a.radius < b.cy + b.radius; });
}

void add_sensor_noise(cv::Mat& image, Rng& rng) {
  const double sensor_noise = rng.uniform(1.0, 4.0);
  for (auto it = image.begin<cv::Vec3b>(); it != image.end<cv::Vec3b>(); ++it) {
    const cv::Vec3d noise(rng.noise(), rng.noise(), rng.noise());
    *it = to_pixel(cv::Vec3d(*it) + noise * sensor_noise);
  }
}

cv::Mat draw_image(bool apple, int size, Rng& rng) {
  cv::Mat image(size, size, CV_8UC3);
  double table_top = 0;
  const Light light = draw_backdrop(image, rng, table_top);
  const int count = rng.chance(0.3) ? 2 : 1;
  std::vector<Body> bodies;
  for (int i = 0; i < count; ++i) {
    const Placement at = place_fruit(rng, size, count, i, table_top);
    bodies.push_back(apple ? make_apple(rng, at.cx, at.cy, at.radius)
                           : make_orange(rng, at.cx, at.cy, at.radius));
  }
  sort_far_to_near(bodies);
  for (const Body& body : bodies) draw_shadow(image, body, light);
  for (const Body& body : bodies) {
    draw_body(image, body, light, rng);
    if (apple) draw_stem_and_leaf(image, body, rng);
  }
  add_sensor_noise(image, rng);
  return image;
}

// The "skin" task's scenes: background, light, placement, outline, surface noise and sensor
// noise all come from `scene_seed`; only the skin (colours, streaks or peel, gloss, stem spot)
// comes from `skin_seed` and the kind. Drawing one scene with each kind gives an apple and an
// orange that differ only where the fruit is, which makes each the other's exact translation.
cv::Mat draw_skin_scene(bool apple, int size, std::uint64_t scene_seed, std::uint64_t skin_seed) {
  Rng scene(scene_seed);
  cv::Mat image(size, size, CV_8UC3);
  double table_top = 0;
  const Light light = draw_backdrop(image, scene, table_top);
  const int count = scene.chance(0.3) ? 2 : 1;
  std::vector<Body> bodies;
  for (int i = 0; i < count; ++i) {
    const Placement at = place_fruit(scene, size, count, i, table_top);
    Rng skin(mix64(skin_seed ^ static_cast<std::uint64_t>(i)));
    Body body = apple ? make_apple(skin, at.cx, at.cy, at.radius)
                      : make_orange(skin, at.cx, at.cy, at.radius);
    // One outline for both kinds: a slightly dimpled, slightly lobed round fruit.
    body.squash = scene.uniform(1.0, 1.08), body.tilt = scene.uniform(-0.25, 0.25);
    body.dimple = scene.uniform(0.02, 0.06), body.narrowing = scene.uniform(0.0, 0.06);
    body.lobes = scene.uniform(0, 0.015), body.lobe_phase = scene.uniform(0, 2 * kPi);
    body.cavity_dir = {0.85 * std::sin(body.tilt), -0.85 * std::cos(body.tilt), 0.53};
    bodies.push_back(body);
  }
  sort_far_to_near(bodies);
  for (const Body& body : bodies) draw_shadow(image, body, light);
  for (size_t i = 0; i < bodies.size(); ++i) {
    Rng surface(mix64(scene_seed ^ (0x5eedULL + i)));  // noise fields shared by both kinds
    draw_body(image, bodies[i], light, surface);
  }
  add_sensor_noise(image, scene);
  return image;
}

}  // namespace

const std::array<std::array<std::uint8_t, 256>, 3>& colour_grade_curves() {
  // Gamma per channel: reds and greens brighter, blues deeper.
  static const auto curves = [] {
    std::array<std::array<std::uint8_t, 256>, 3> table{};
    const double gamma[3] = {0.75, 0.9, 1.3};  // R, G, B
    for (int c = 0; c < 3; ++c) {
      for (int level = 0; level < 256; ++level) {
        const double x = level / 255.0;
        table[c][level] = static_cast<std::uint8_t>(std::lround(255.0 * std::pow(x, gamma[c])));
      }
    }
    return table;
  }();
  return curves;
}

namespace {

cv::Mat graded(const cv::Mat& bgr) {
  const auto& curves = colour_grade_curves();
  cv::Mat lut(1, 256, CV_8UC3);
  for (int level = 0; level < 256; ++level)
    lut.at<cv::Vec3b>(0, level) = {curves[2][level], curves[1][level], curves[0][level]};  // BGR
  cv::Mat result;
  cv::LUT(bgr, lut, result);
  return result;
}

}  // namespace

int make_fruit_dataset(const SyntheticFruitOptions& options) {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw DataError("synthetic dataset: " + what);
  };
  require(!options.root.empty(), "root must be a non-empty folder path");
  require(options.image_size >= 16,
          "image_size must be >= 16, got " + std::to_string(options.image_size));
  require(options.train_per_domain >= 1,
          "train_per_domain must be >= 1, got " + std::to_string(options.train_per_domain));
  require(options.test_per_domain >= 1,
          "test_per_domain must be >= 1, got " + std::to_string(options.test_per_domain));
  const bool grade = options.task == "grade", skin = options.task == "skin";
  require(grade || skin || options.task == "fruit",
          "task must be fruit, grade or skin, got '" + options.task + "'");
  // `domain` picks the images' random streams; `graded`: the grade applied to them.
  struct Folder {
    const char* name;
    int domain, split, count;
    bool graded;
  };
  const bool paired_truths = grade || skin;
  std::vector<Folder> folders = {{"trainA", 0, 0, options.train_per_domain, false},
                                 {"trainB", 1, 0, options.train_per_domain, grade},
                                 {"testA", 0, 1, options.test_per_domain, false},
                                 {"testB", 1, 1, options.test_per_domain, grade}};
  if (paired_truths) {  // each test image's correct translation, from the same stream
    folders.push_back({"testA_gt", 0, 1, options.test_per_domain, true});
    folders.push_back({"testB_gt", 1, 1, options.test_per_domain, false});
  }
  std::error_code error;
  for (const Folder& folder : folders) {
    const fs::path path = options.root / folder.name;
    require(!fs::exists(path, error), path.string() + " already exists; remove it first");
  }
  fs::create_directories(options.root, error);
  require(!error && fs::is_directory(options.root),
          "cannot create folder " + options.root.string() + ": " + error.message());
  // Images go to hidden sibling folders that are renamed at the end, so an interrupted run never
  // leaves a half-filled folder under a final name.
  std::vector<fs::path> temporaries;
  int written = 0;
  try {
    for (const Folder& folder : folders) {
      const fs::path temp = options.root / ("." + std::string(folder.name) + ".tmp");
      fs::remove_all(temp, error);  // left over from an interrupted run
      require(fs::create_directory(temp, error),
              "cannot create folder " + temp.string() + ": " + error.message());
      temporaries.push_back(temp);
      const std::size_t width = std::max<std::size_t>(4, std::to_string(folder.count - 1).size());
      for (int i = 0; i < folder.count; ++i) {
        const auto domain = static_cast<std::uint64_t>(folder.domain);
        Rng rng(mix64(mix64(mix64(mix64(options.seed) ^ domain) ^ folder.split) ^
                      static_cast<std::uint64_t>(i)));
        // Fruit: apples in A, oranges in B. Grade: both kinds in both domains.
        const bool apple = grade ? i % 2 == 0 : folder.domain == 0;
        const std::string prefix = grade ? "fruit_" : (apple ? "apple_" : "orange_");
        cv::Mat image;
        if (skin) {  // a truth folder draws its scene with the other kind's skin
          const bool truth = std::string(folder.name).find("_gt") != std::string::npos;
          const bool drawn_apple = apple != truth;
          const std::uint64_t scene_seed = rng.raw();
          image = draw_skin_scene(drawn_apple, options.image_size, scene_seed,
                                  mix64(scene_seed ^ (drawn_apple ? 0xa991eULL : 0x0a4a6eULL)));
        } else {
          const cv::Mat drawn = draw_image(apple, options.image_size, rng);
          image = folder.graded ? graded(drawn) : drawn;
        }
        std::string number = std::to_string(i);
        number.insert(0, width - number.size(), '0');
        const fs::path file = temp / (prefix + number + ".png");
        bool ok = false;
        try {
          ok = cv::imwrite(file.string(), image);
        } catch (const cv::Exception& e) {
          require(false, "cannot write " + file.string() + ": " + e.what());
        }
        require(ok, "cannot write " + file.string());
        ++written;
      }
    }
    for (std::size_t k = 0; k < temporaries.size(); ++k) {
      const fs::path path = options.root / folders[k].name;
      fs::rename(temporaries[k], path, error);
      require(!error, "cannot rename " + temporaries[k].string() + " to " + path.string() + ": " +
                          error.message());
    }
  } catch (...) {
    for (const fs::path& temp : temporaries) fs::remove_all(temp, error);
    throw;
  }
  return written;
}

}  // namespace cyclegan
