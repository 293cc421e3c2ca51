// import / export / info: moving generator weights between our files and PyTorch's.

#include <iostream>
#include <string>

#include "commands.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"

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
      ->check(CLI::PositiveNumber);
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
    export_state_dict(options->output, *loaded.generator);
    if (loaded.info.architecture == "unet") {
      std::cerr << "note: 'unet' is the book's U-Net; the official PyTorch code has no such "
                   "network, so these keys only load into a port of the book's model\n";
    }
    std::cout << options->output.string() << "\n";
    return 0;
  };
}

std::function<int()> add_info_command(CLI::App& app) {
  auto input = std::make_shared<fs::path>();
  CLI::App* command = app.add_subcommand("info", "Describe a checkpoint file");
  command->add_option("file", *input, "g_AB.pt, d_A.pt or a PyTorch .pth")
      ->required()
      ->check(CLI::ExistingFile);
  command->footer("Examples:\n  cyclegan info runs/demo/g_AB.pt\n  cyclegan info latest_net_G.pth");
  return [input] {
    TorchFileInfo file_info;
    const StateDict raw = read_torch_file(*input, &file_info);
    int64_t parameters = 0;
    if (raw.is_empty()) {  // ours: metadata and a nested state_dict
      const NetworkFile file = read_network_file(*input);
      for (const auto& item : file.weights) parameters += item.value().numel();
      const NetworkInfo& info = file.info;
      std::cout << "file:         " << input->string() << "\n"
                << "format:       cyclegan (version " << kCheckpointFormatVersion << " reader)\n"
                << "kind:         " << info.kind << " " << info.direction << "\n"
                << "architecture: " << info.architecture << "\n"
                << "filters:      " << info.filters << "\n"
                << "channels:     " << info.in_channels << " -> " << info.out_channels << "\n"
                << "image size:   " << info.image_size << "\n"
                << "parameters:   " << parameters << "\n"
                << "step:         " << info.step << "\n";
      return 0;
    }
    for (const auto& item : raw) parameters += item.value().numel();
    std::cout << "file:         " << input->string() << "\n"
              << "format:       pytorch " << file_info.format << " (state_dict, " << raw.size()
              << " tensors)\n";
    try {
      const GeneratorOptions options = infer_generator_options(raw, input->string());
      std::cout << "kind:         generator\n"
                << "architecture: " << options.architecture() << "\n"
                << "filters:      " << options.ngf() << "\n"
                << "channels:     " << options.in_channels() << " -> " << options.out_channels()
                << "\n";
    } catch (const CheckpointError& e) {
      std::cout << "kind:         not a known generator (" << e.what() << ")\n";
    }
    std::cout << "parameters:   " << parameters << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
