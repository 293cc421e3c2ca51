#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace cyclegan {

/// Image-quality measures on [C, H, W] (or [N, C, H, W]) images in [-1, 1], computed on the
/// [0, 1] intensity scale that PSNR and SSIM are usually quoted on.
/// Mean absolute difference, in [0, 1].
double mean_absolute_difference(const at::Tensor& a, const at::Tensor& b);
/// Peak signal-to-noise ratio in dB (data range 1); +inf for identical images.
double psnr(const at::Tensor& a, const at::Tensor& b);
/// Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01,
/// K2 0.03, data range 1), averaged over valid window positions and channels. Images smaller
/// than the window use one window covering the whole image.
double ssim(const at::Tensor& a, const at::Tensor& b);

/// Results of one translation direction over a test folder.
struct DirectionMetrics {
  std::string name;        ///< "A2B": testA through G_AB (reconstruction through G_BA)
  int64_t images = 0;      ///< images translated
  double cycle_l1 = 0;     ///< mean |G_BA(G_AB(a)) - a|
  double identity_l1 = 0;  ///< mean |G_BA(a) - a| (the identity mapping of the other generator)
  int64_t paired = 0;      ///< images with a ground-truth counterpart in testA_gt/
  double paired_l1 = 0;    ///< mean |G_AB(a) - gt|
  double paired_psnr = 0;  ///< mean over images, dB
  double paired_ssim = 0;
};

class GeneratorModule;

/// A generator to measure, with what it takes and gives.
struct MeasuredGenerator {
  GeneratorModule* generator = nullptr;
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t size_multiple = 4;  ///< generator_size_multiple() of its architecture
};

/// Which test images to measure, and how.
struct MeasureOptions {
  std::filesystem::path data_root;  ///< holds testA/ testB/ (and testA_gt/ testB_gt/)
  bool swap_domains = false;        ///< data.direction BtoA: testB/ holds domain A's images
  int64_t resize = 0;               ///< > 0: at resize x resize; 0: at each image's own size
  int64_t num_test = 0;             ///< > 0: only the first N images (by name) of each folder
};

/// One measured test image: [1, C, H, W] images in [-1, 1] (identity and truth undefined when
/// absent) and its measures.
struct MeasuredImage {
  std::filesystem::path file;
  at::Tensor real, fake, reconstructed, identity, truth;
  double cycle_l1 = 0, identity_l1 = 0, paired_l1 = 0, paired_psnr = 0, paired_ssim = 0;
  bool paired = false;
};

/// Translates testA with G_AB and testB with G_BA (reconstructing with the other generator and,
/// when the domains' channels agree, applying it as identity), and measures each direction as
/// DirectionMetrics. `each_image` (if set) sees every image as it is measured; images that cannot
/// be read are skipped, with the reason appended to `failed` (if set). The generators are used as
/// they are (eval() them first). A missing test folder is skipped with a warning.
std::vector<DirectionMetrics> measure_directions(
    const MeasuredGenerator& g_ab, const MeasuredGenerator& g_ba, const MeasureOptions& options,
    const std::function<void(const std::string& direction, const MeasuredImage&)>& each_image = {},
    std::vector<std::string>* failed = nullptr);

struct EvaluateOptions {
  std::filesystem::path run_dir;     ///< holds g_AB.pt, g_BA.pt and config.yaml
  std::filesystem::path data_root;   ///< empty: the run's data.root
  std::filesystem::path output_dir;  ///< empty: RUN_DIR/test_step_N
  std::string device = "auto";
  int64_t resize = 0;    ///< > 0: translate at resize x resize; 0: at each image's own size
  int64_t num_test = 0;  ///< > 0: only the first N images (by name) of each test folder
  /// Written images are stretched to width x ratio (> 1) or height / ratio (< 1), bicubic, as
  /// the official save_images; metrics are measured before.
  double aspect_ratio = 1.0;
};

struct Evaluation {
  std::vector<DirectionMetrics> directions;  ///< A2B and/or B2A, for the test folders present
  std::filesystem::path output_dir;
  std::filesystem::path index;      ///< output_dir/index.html
  std::vector<std::string> failed;  ///< inputs skipped, with the reason
};

/// Translates testA with G_AB and testB with G_BA (also reconstructing and applying the
/// identity mapping), writes every image and an HTML index under output_dir, and measures
/// cycle and identity L1 per direction; where testA_gt/ (testB_gt/) holds the correct other-
/// domain image under the same file name, also L1, PSNR and SSIM against it. Also writes
/// metrics.csv. Throws DataError when neither test folder has an image.
Evaluation evaluate_run(const EvaluateOptions& options);

}  // namespace cyclegan
