#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace cyclegan::cli {

/// Each add_* registers a subcommand and its options; the returned function runs it and gives the
/// process exit status. Options are bound to storage the function owns.
std::function<int()> add_train_command(CLI::App& app);
std::function<int()> add_translate_command(CLI::App& app);
std::function<int()> add_make_data_command(CLI::App& app);
std::function<int()> add_import_command(CLI::App& app);
std::function<int()> add_export_command(CLI::App& app);
std::function<int()> add_info_command(CLI::App& app);

}  // namespace cyclegan::cli
