#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "cyclegan/runtime.h"
#include "cyclegan/translate.h"

namespace cyclegan::cli {

std::function<int()> add_translate_command(CLI::App& app) {
  struct Options {
    TranslateOptions translate;
    std::vector<std::string> inputs;
    int64_t threads = 0;
    bool exact = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command =
      app.add_subcommand("translate", "Translate images with a trained generator (g_AB.pt, ...)");
  command
      ->add_option("--ckpt", options->translate.checkpoint, "Generator file (g_AB.pt or g_BA.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  add_generator_override_options(command, options->translate.overrides);
  command->add_option("inputs", options->inputs, "Image files or folders of images")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_option("-o,--output", options->translate.output_dir, "Folder for the results")
      ->capture_default_str();
  command->add_option("--device", options->translate.device, "auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  command
      ->add_option("--resize", options->translate.resize,
                   "Resize inputs to NxN instead of keeping their size (0 = keep)")
      ->check(at_least_zero());
  command
      ->add_option("--batch-size", options->translate.batch_size,
                   "Same-size images translated together")
      ->capture_default_str()
      ->check(above_zero());
  command->add_flag_callback(
      "--official-rounding",
      [options] { options->translate.quantization = Quantization::kTruncate; },
      "Convert to 8 bits as the official tensor2im does (truncate) instead of rounding");
  command
      ->add_option("--tile", options->translate.tile,
                   "Translate in overlapping tiles of this side (0 = only when an image would "
                   "exceed --max-memory)")
      ->check(at_least_zero());
  command
      ->add_option("--tile-overlap", options->translate.tile_overlap,
                   "Pixels shared by neighbouring tiles, blended across")
      ->capture_default_str()
      ->check(at_least_zero());
  command
      ->add_option("--max-memory", options->translate.max_memory_mb,
                   "Memory budget in MiB for one image; larger ones are tiled")
      ->capture_default_str()
      ->check(above_zero());
  command->add_option("--threads", options->threads, "CPU threads (0 = all cores)")
      ->check(at_least_zero());
  command->add_flag("--exact", options->exact,
                    "LibTorch's direct convolutions everywhere: outputs match PyTorch's to 1e-5. "
                    "By default a ResNet generator's 3x3 convolutions on images from about 96 px "
                    "run through oneDNN's Winograd kernels (AVX-512 CPUs), 1.5-2x faster at 256 "
                    "px, and differ from the exact path by a few 1e-6 (rarely one 8-bit level)");
  // Kept so that scripts written when the Winograd path was opt-in keep working.
  command->add_flag("--fast", "The default now (see --exact)")->group("");
  command->footer(
      "Examples:\n"
      "  cyclegan translate --ckpt runs/apple2orange/g_AB.pt apple.jpg\n"
      "  cyclegan translate --ckpt latest_net_G_A.pth --arch resnet_9blocks horse.jpg\n"
      "  cyclegan translate --ckpt runs/apple2orange/g_BA.pt datasets/fruit/testB -o "
      "oranges2apples\n\n"
      "Each output keeps its input's size (padding by reflection to what the network needs, then\n"
      "cropping back) and is written as OUTPUT/<input name>.png; written paths go to stdout.\n"
      "Images whose estimated memory exceeds --max-memory are translated in overlapping tiles\n"
      "blended across the overlap. Unreadable inputs are named, skipped, and make the exit\n"
      "status 1.");
  return [options] {
    configure_threads(options->threads);
    options->translate.exact = options->exact;
    const std::vector<std::filesystem::path> inputs(options->inputs.begin(), options->inputs.end());
    Translator translator(options->translate);
    const auto files = collect_image_inputs(inputs);
    for (const auto& path : translator.translate(files)) std::cout << path.string() << "\n";
    if (!translator.failed().empty()) {
      std::cerr << "error: " << translator.failed().size() << " of " << files.size()
                << " inputs could not be read and were skipped (named above)\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace cyclegan::cli
