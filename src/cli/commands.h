#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "cyclegan/checkpoint.h"

namespace cyclegan::cli {

/// Number checks with messages a user can read ("must be >= 0, got -2"), where CLI11's own
/// NonNegativeNumber / PositiveNumber print their range up to the largest double.
const CLI::Validator& at_least_zero();
const CLI::Validator& above_zero();

/// --arch and --ngf, for commands that read PyTorch generator files.
void add_generator_override_options(CLI::App* command, GeneratorOverrides& overrides);

/// Each add_* registers a subcommand and its options; the returned function runs it and gives the
/// process exit status. Options are bound to storage the function owns.
std::function<int()> add_train_command(CLI::App& app);
std::function<int()> add_translate_command(CLI::App& app);
std::function<int()> add_make_data_command(CLI::App& app);
std::function<int()> add_import_command(CLI::App& app);
std::function<int()> add_export_command(CLI::App& app);
std::function<int()> add_info_command(CLI::App& app);
std::function<int()> add_report_command(CLI::App& app);
std::function<int()> add_test_command(CLI::App& app);

/// Runs this command line (without --nproc) as `nproc` local data-parallel workers with the
/// torch.distributed environment set; returns the first failing worker's exit status, else 0.
int launch_local_workers(int64_t nproc, double timeout_seconds);

}  // namespace cyclegan::cli
