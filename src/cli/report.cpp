#include <filesystem>
#include <iostream>

#include "commands.h"
#include "cyclegan/report.h"

namespace cyclegan::cli {

std::function<int()> add_report_command(CLI::App& app) {
  auto run_dir = std::make_shared<std::filesystem::path>();
  CLI::App* command = app.add_subcommand(
      "report", "Write RUN_DIR/report.html: loss curves, sample grids, configuration, checkpoints");
  command->add_option("run_dir", *run_dir, "Run directory (a training run's output.dir)")
      ->required()
      ->check(CLI::ExistingDirectory);
  command->footer(
      "Examples:\n"
      "  cyclegan report runs/apple2orange\n\n"
      "One static page that opens from disk with no server and no network; sample grids are\n"
      "linked from samples/, so keep the page in its run directory. Works during training too.");
  return [run_dir] {
    std::cout << write_html_report(*run_dir).string() << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
