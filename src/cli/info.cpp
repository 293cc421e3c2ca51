// info: what a checkpoint file holds, ours or PyTorch's.

#include <iostream>

#include "commands.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"

namespace cyclegan::cli {

namespace fs = std::filesystem;

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
      for (const auto& item : file.weights) {
        // Batch norm's running statistics are buffers, not parameters.
        const std::string& key = item.key();
        if (key.find(".running_") == std::string::npos &&
            key.find(".num_batches_tracked") == std::string::npos)
          parameters += item.value().numel();
      }
      const NetworkInfo& info = file.info;
      std::cout << "file:         " << input->string() << "\n"
                << "format:       cyclegan (version " << kCheckpointFormatVersion << " reader)\n"
                << "kind:         " << info.kind << " " << info.direction << "\n"
                << "architecture: " << info.architecture << "\n"
                << "filters:      " << info.filters << "\n"
                << "channels:     " << info.in_channels << " -> " << info.out_channels << "\n"
                << "norm:         " << info.norm << "\n"
                << (info.kind == "generator"
                        ? std::string("input skip:   ") +
                              (info.input_skip ? "yes (model.input_skip; export refuses it)\n"
                                               : "no\n")
                        : std::string())
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
                << "\n"
                << "norm:         " << options.norm()
                << (options.architecture() == "unet" && options.norm() == "instance"
                        ? " (or none: with this layout's biases the keys cannot tell them apart)"
                        : "")
                << "\n";
    } catch (const CheckpointError& e) {
      std::cout << "kind:         not a known generator (" << e.what() << ")\n";
    }
    std::cout << "parameters:   " << parameters << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
