// The only place that knows about argv, exit codes and the console.

#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "commands.h"
#include "cyclegan/errors.h"
#include "progress.h"

namespace cyclegan::cli {

namespace {

// A check of a number against `bound` (inclusive or not), named like "NUMBER >= 0".
CLI::Validator number_check(double bound, bool inclusive) {
  const std::string relation = inclusive ? ">= " : "> ";
  const std::string limit = bound == 0 ? "0" : std::to_string(bound);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "expected a number, got '" + text + "'";
        const bool ok = inclusive ? value >= bound : value > bound;
        return ok ? std::string() : "must be " + relation + limit + ", got " + text;
      },
      "NUMBER " + relation + limit);
}

}  // namespace

const CLI::Validator& at_least_zero() {
  static const CLI::Validator check = number_check(0, true);
  return check;
}

const CLI::Validator& above_zero() {
  static const CLI::Validator check = number_check(0, false);
  return check;
}

}  // namespace cyclegan::cli

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

bool looks_like_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0';
}

struct UnknownOption {
  std::string name;     ///< empty when every option is known
  std::string command;  ///< "cyclegan translate"
};

// The first command-line option that neither the chosen subcommand nor the program knows.
// CLI11 reports a missing required option or a bad positional before an unknown option, which
// hides a mistyped flag behind an unrelated complaint; this finds the flag to name it first.
UnknownOption first_unknown_option(const CLI::App& app, int argc, char** argv) {
  const CLI::App* command = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--") break;  // positionals only from here
    if (command == nullptr) {
      for (const CLI::App* subcommand : app.get_subcommands({})) {
        if (subcommand->check_name(argument)) command = subcommand;
      }
      if (command != nullptr) continue;
    }
    if (argument.size() < 2 || argument[0] != '-' || looks_like_number(argument)) continue;
    // "--name=value" and "-ovalue" name the option before the value.
    const std::string name =
        argument[1] == '-' ? argument.substr(0, argument.find('=')) : argument.substr(0, 2);
    const bool known = app.get_option_no_throw(name) != nullptr ||
                       (command != nullptr && command->get_option_no_throw(name) != nullptr);
    if (!known) return {name, command == nullptr ? "cyclegan" : "cyclegan " + command->get_name()};
  }
  return {};
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
  app.fallthrough();  // subcommands inherit it: `cyclegan train --quiet` means `cyclegan -q train`
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
    const UnknownOption unknown = first_unknown_option(app, argc, argv);
    if (!unknown.name.empty()) {
      std::cerr << "The following argument was not expected: " << unknown.name
                << " (not an option of '" << unknown.command << "')\nRun '" << unknown.command
                << " --help' for its options.\n";
      return kExitUsageError;
    }
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
