// import: an official PyTorch generator file (.pth) into one of ours; the --arch/--ngf options
// shared by the commands that read such files.

#include <iostream>
#include <string>

#include "commands.h"
#include "cyclegan/checkpoint.h"

namespace cyclegan::cli {

namespace fs = std::filesystem;

void add_generator_override_options(CLI::App* command, GeneratorOverrides& overrides) {
  command
      ->add_option("--arch", overrides.architecture,
                   "Architecture of a PyTorch .pth file (inferred from its keys if omitted)")
      ->check(CLI::IsMember(
          {"unet", "unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks", "u-net", "resnet"}));
  command
      ->add_option("--ngf", overrides.ngf, "Filters of a PyTorch .pth file (inferred if omitted)")
      ->check(above_zero());
}

std::function<int()> add_import_command(CLI::App& app) {
  struct Options {
    fs::path input;
    fs::path output;
    GeneratorOverrides overrides;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "import", "Convert an official PyTorch CycleGAN generator (.pth) into a g_AB.pt file");
  command->add_option("file", options->input, "PyTorch state_dict (latest_net_G_A.pth, ...)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("-o,--output", options->output, "Our generator file to write")->required();
  add_generator_override_options(command, options->overrides);
  command->footer(
      "Examples:\n"
      "  cyclegan import checkpoints/horse2zebra_pretrained/latest_net_G.pth -o g_AB.pt\n"
      "  cyclegan import latest_net_G_A.pth --arch unet_256 -o g_AB.pt\n\n"
      "Reads both PyTorch formats (zip and legacy); says what architecture it inferred.");
  return [options] {
    const LoadedGenerator loaded = load_generator(options->input, options->overrides);
    std::cerr << options->input.string() << " (" << loaded.source_format
              << "): " << (loaded.note.empty() ? loaded.info.architecture : loaded.note) << "\n";
    save_network(options->output, *loaded.generator, loaded.info);
    std::cout << options->output.string() << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
