#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <iostream>
#include <string>

#include "commands.h"
#include "cyclegan/evaluate.h"
#include "cyclegan/runtime.h"

namespace cyclegan::cli {

std::function<int()> add_test_command(CLI::App& app) {
  struct Options {
    EvaluateOptions evaluate;
    int64_t threads = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "test", "Translate a run's test images both ways and measure them (alias: eval)");
  command->alias("eval");
  command
      ->add_option("--ckpt-dir", options->evaluate.run_dir,
                   "Run directory holding g_AB.pt, g_BA.pt and config.yaml")
      ->required()
      ->check(CLI::ExistingDirectory);
  command
      ->add_option("--data-root", options->evaluate.data_root,
                   "Dataset with testA/ testB/ (and optional testA_gt/ testB_gt/); default: the "
                   "run's data.root")
      ->check(CLI::ExistingDirectory);
  command->add_option("-o,--output", options->evaluate.output_dir,
                      "Folder for images, index.html and metrics (default RUN_DIR/test_step_N)");
  command->add_option("--device", options->evaluate.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  command
      ->add_option("--resize", options->evaluate.resize,
                   "Translate at NxN instead of each image's own size (0 = keep)")
      ->check(at_least_zero());
  command
      ->add_option("--num-test", options->evaluate.num_test,
                   "Only the first N images (by name) of each test folder (0 = all; official "
                   "--num_test)")
      ->check(at_least_zero());
  command
      ->add_option("--aspect-ratio", options->evaluate.aspect_ratio,
                   "Write images R times wider (R > 1) or 1/R times taller (R < 1), bicubic; "
                   "metrics are measured before (official --aspect_ratio)")
      ->check(above_zero())
      ->capture_default_str();
  command->add_option("--threads", options->threads, "CPU threads (0 = all cores)")
      ->check(at_least_zero());
  command->footer(
      "Writes OUT/A2B/ and OUT/B2A/ (original, translated, reconstructed, identity and, where\n"
      "testA_gt/ or testB_gt/ holds the correct image under the same name, the ground truth),\n"
      "OUT/index.html, OUT/metrics.csv and OUT/images.csv. L1 is on the [0, 1] scale.\n\n"
      "Example:\n  cyclegan test --ckpt-dir runs/apple2orange");
  return [options] {
    configure_threads(options->threads);
    const Evaluation evaluation = evaluate_run(options->evaluate);
    std::cout << fmt::format("{:<9} {:>6} {:>10} {:>12} {:>7} {:>10} {:>8} {:>7}\n", "direction",
                             "images", "cycle L1", "identity L1", "paired", "L1 truth", "PSNR",
                             "SSIM");
    for (const DirectionMetrics& m : evaluation.directions) {
      const bool paired = m.paired > 0;
      // No identity when the domains' channels differ (model.input_nc / output_nc).
      const std::string identity =
          std::isnan(m.identity_l1) ? "n/a" : fmt::format("{:.4f}", m.identity_l1);
      std::cout << fmt::format("{:<9} {:>6} {:>10.4f} {:>12} {:>7} {:>10} {:>8} {:>7}\n", m.name,
                               m.images, m.cycle_l1, identity, m.paired,
                               paired ? fmt::format("{:.4f}", m.paired_l1) : "-",
                               paired ? fmt::format("{:.2f}", m.paired_psnr) : "-",
                               paired ? fmt::format("{:.4f}", m.paired_ssim) : "-");
    }
    std::cout << evaluation.index.string() << "\n";
    if (!evaluation.failed.empty()) {
      std::cerr << evaluation.failed.size() << " input(s) could not be read and were skipped\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace cyclegan::cli
