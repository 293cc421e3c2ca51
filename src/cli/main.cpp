// The only place that knows about argv, exit codes and the console.

#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include "commands.h"
#include "cyclegan/errors.h"
#include "cyclegan/progress.h"

namespace {

constexpr int kExitRuntimeError = 1;
constexpr int kExitUsageError = 2;

void configure_console_logging(bool quiet, bool verbose) {
  // A terminal gets a live progress bar under the log lines; pipes and files get plain lines.
  const char* term = std::getenv("TERM");
  const bool terminal =
      ::isatty(STDERR_FILENO) && !(term != nullptr && std::string(term) == "dumb");
  spdlog::sink_ptr console;
  if (terminal && !quiet) {
    console = std::make_shared<cyclegan::StatusLineSink>(stderr);
  } else {
    console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  console->set_level(quiet     ? spdlog::level::warn
                     : verbose ? spdlog::level::debug
                               : spdlog::level::info);
  console->set_pattern("[%H:%M:%S] %^%l%$ %v");
  auto logger = std::make_shared<spdlog::logger>("cyclegan", console);
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cyclegan: unpaired image-to-image translation (CycleGAN) on LibTorch.\n"
      "Trains the four networks of Zhu et al. 2017 / Foster, Generative Deep Learning ch. 5, and\n"
      "translates images with a trained generator.",
      "cyclegan"};
  app.set_version_flag("--version", std::string("cyclegan ") + CYCLEGAN_VERSION);
  app.require_subcommand(1);
  bool quiet = false;
  bool verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on the console");
  app.add_flag("-v,--verbose", verbose, "Debug messages on the console");
  app.footer(
      "Examples:\n"
      "  cyclegan make-data --out datasets/fruit            # built-in apples/oranges set\n"
      "  cyclegan train --config configs/apple2orange.yaml --set data.root=datasets/fruit\n"
      "  cyclegan translate --ckpt runs/apple2orange/g_AB.pt photos/ -o translated/\n"
      "  cyclegan report runs/apple2orange                  # runs/apple2orange/report.html\n"
      "Run 'cyclegan COMMAND --help' for a command's options.");

  std::map<CLI::App*, std::function<int()>> commands;
  auto add = [&](std::function<int()> (*adder)(CLI::App&)) {
    auto run = adder(app);
    commands[app.get_subcommands({}).back()] = run;
  };
  add(cyclegan::cli::add_train_command);
  add(cyclegan::cli::add_translate_command);
  add(cyclegan::cli::add_make_data_command);
  add(cyclegan::cli::add_import_command);
  add(cyclegan::cli::add_export_command);
  add(cyclegan::cli::add_info_command);
  add(cyclegan::cli::add_report_command);
  add(cyclegan::cli::add_test_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsageError;
  }
  configure_console_logging(quiet, verbose);

  try {
    for (auto& [subcommand, run] : commands) {
      if (subcommand->parsed()) return run();
    }
    return kExitUsageError;
  } catch (const cyclegan::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsageError;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return kExitRuntimeError;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntimeError;
  }
}
