// export: a generator's weights as the state_dict Python's torch.save writes.

#include <iostream>

#include "commands.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"

namespace cyclegan::cli {

namespace fs = std::filesystem;

std::function<int()> add_export_command(CLI::App& app) {
  struct Options {
    fs::path input;
    fs::path output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "export", "Write a generator's weights as a PyTorch state_dict (official key names)");
  command->add_option("file", options->input, "Generator file (g_AB.pt, or a .pth)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("-o,--output", options->output, "PyTorch file to write (net_G_A.pth)")
      ->required();
  command->footer(
      "Examples:\n"
      "  cyclegan export runs/horse2zebra/g_AB.pt -o latest_net_G_A.pth\n\n"
      "In Python: net = networks.define_G(3, 3, 64, 'resnet_9blocks', 'instance', True)\n"
      "           net.load_state_dict(torch.load('latest_net_G_A.pth'))");
  return [options] {
    const LoadedGenerator loaded = load_generator(options->input);
    if (loaded.info.input_skip) {
      throw CheckpointError(options->input.string() +
                            ": this generator adds its input to its output (model.input_skip, "
                            "as train.recipe fast sets it); the official networks have no such "
                            "path and would misread its weights, so it is not exported. Translate "
                            "with cyclegan translate");
    }
    export_state_dict(options->output, *loaded.generator);
    if (loaded.info.architecture == "unet") {
      std::cerr << "note: 'unet' is the book's U-Net; the official PyTorch code has no such "
                   "network, so these keys only load into a port of the book's model\n";
    }
    std::cout << options->output.string() << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
