// Translation quality per training step (bench/README.md, "Quality per step"): unpaired tasks
// whose correct answers are known, trained with named recipes over several seeds. Prints PSNR
// and SSIM against the truth every --eval-every steps as mean +- standard deviation over the
// seeds, beside two floors that need no training: leaving the image unchanged, and histogram
// matching (each channel's levels mapped so that domain A's training images take domain B's
// level distribution, and back).
//
//   cyclegan_quality --work bench_quality --tasks grade64,skin64 --recipes official,fast
//                    --seeds 3 --steps 1200
//
// Runs are kept under WORK/runs/; a finished run (its quality.csv reaching --steps) is read
// again instead of trained, so a long benchmark can be stopped and started again.

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cyclegan/checkpoint.h"
#include "cyclegan/config.h"
#include "cyclegan/evaluate.h"
#include "cyclegan/image_io.h"
#include "cyclegan/report.h"
#include "cyclegan/runtime.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"

namespace fs = std::filesystem;
using namespace cyclegan;

namespace {

struct Task {
  std::string name;  // e.g. grade64: make-data task "grade" at 64 px
  std::string kind;
  int size = 64;
};

Task parse_task(const std::string& name) {
  const auto digits = name.find_first_of("0123456789");
  if (digits == std::string::npos || digits == 0) {
    throw std::invalid_argument("task '" + name +
                                "' must be a make-data task and a size, e.g. "
                                "grade64");
  }
  return {name, name.substr(0, digits), std::stoi(name.substr(digits))};
}

struct Recipe {
  std::string name;
  std::vector<std::string> overrides;  // key=value
};

// "fast" or "name:key=value,key=value": a name alone means train.recipe=name.
Recipe parse_recipe(const std::string& text) {
  const auto colon = text.find(':');
  Recipe recipe{text.substr(0, colon), {}};
  if (colon == std::string::npos) {
    recipe.overrides.push_back("train.recipe=" + recipe.name);
    return recipe;
  }
  std::stringstream list(text.substr(colon + 1));
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) recipe.overrides.push_back(item);
  }
  return recipe;
}

struct Scores {
  double psnr = 0, ssim = 0, l1 = 0;
};

// The floors: scores of a fixed per-image mapping on a test folder against its truths.
Scores score_folder(const fs::path& inputs, const fs::path& truths,
                    const std::function<at::Tensor(const at::Tensor&)>& mapping) {
  Scores total;
  int64_t count = 0;
  for (const fs::path& file : list_images(inputs)) {
    const at::Tensor truth = read_image(truths / file.filename());
    const at::Tensor mapped = mapping(read_image(file));
    total.psnr += psnr(mapped, truth);
    total.ssim += ssim(mapped, truth);
    total.l1 += mean_absolute_difference(mapped, truth);
    ++count;
  }
  if (count == 0) throw std::runtime_error("no test images in " + inputs.string());
  return {total.psnr / count, total.ssim / count, total.l1 / count};
}

using Histograms = std::array<std::array<double, 256>, 3>;

Histograms level_histograms(const fs::path& folder) {
  Histograms counts{};
  for (const fs::path& file : list_images(folder)) {
    const std::vector<unsigned char> rgb = to_rgb8(read_image(file));
    for (size_t i = 0; i < rgb.size(); ++i) counts[i % 3][rgb[i]] += 1;
  }
  return counts;
}

// Per channel: the level of `to` whose cumulative share first reaches that of each level of
// `from` (classic histogram specification), as a [3, 256] table of values in [-1, 1].
at::Tensor matching_table(const Histograms& from, const Histograms& to) {
  at::Tensor table = torch::empty({3, 256});
  for (int c = 0; c < 3; ++c) {
    std::array<double, 256> cdf_from{}, cdf_to{};
    double run_from = 0, run_to = 0, total_from = 0, total_to = 0;
    for (int v = 0; v < 256; ++v) total_from += from[c][v], total_to += to[c][v];
    for (int v = 0; v < 256; ++v) {
      run_from += from[c][v], run_to += to[c][v];
      cdf_from[v] = run_from / total_from, cdf_to[v] = run_to / total_to;
    }
    for (int v = 0; v < 256; ++v) {
      int level = 0;
      while (level < 255 && cdf_to[level] < cdf_from[v] - 1e-12) ++level;
      table[c][v] = level / 127.5 - 1.0;
    }
  }
  return table;
}

at::Tensor apply_table(const at::Tensor& image, const at::Tensor& table) {
  const at::Tensor levels = ((image + 1.0) * 127.5).round().clamp(0, 255).to(torch::kLong);
  at::Tensor result = torch::empty_like(image);
  for (int c = 0; c < 3; ++c) result[c] = table[c].index({levels[c]});
  return result;
}

// One row per test image (the first `count` of each direction): the input, each recipe's
// translation by its seed-1 run, and the truth.
void write_sample_sheet(const fs::path& path, const fs::path& data,
                        const std::vector<std::pair<std::string, fs::path>>& recipe_runs,
                        int count) {
  std::vector<std::vector<at::Tensor>> rows;
  for (const auto& [folder, generator_file] :
       {std::pair{"testA", "g_AB.pt"}, std::pair{"testB", "g_BA.pt"}}) {
    std::vector<LoadedGenerator> generators;
    for (const auto& recipe_run : recipe_runs)
      generators.push_back(load_generator(recipe_run.second / generator_file));
    const std::vector<fs::path> files = list_images(data / folder);
    for (int i = 0; i < count && i < static_cast<int>(files.size()); ++i) {
      const at::Tensor input = read_image(files[i]);
      std::vector<at::Tensor> row = {input};
      torch::NoGradGuard no_grad;
      for (auto& loaded : generators)
        row.push_back(loaded.generator->forward(input.unsqueeze(0))[0]);
      row.push_back(read_image(data / (std::string(folder) + "_gt") / files[i].filename()));
      rows.push_back(row);
    }
  }
  write_image(path, make_grid(rows));
}

struct Curve {  // one run: step -> direction -> scores
  std::map<int64_t, std::map<std::string, Scores>> at_step;
};

Curve read_quality_csv(const fs::path& path) {
  Curve curve;
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);  // header
  while (std::getline(file, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    if (cells.size() < 9 || cells[5] == "0") continue;  // no paired images
    curve.at_step[std::stoll(cells[0])][cells[1]] = {std::stod(cells[7]), std::stod(cells[8]),
                                                     std::stod(cells[6])};
  }
  return curve;
}

std::string mean_spread(const std::vector<double>& values, int decimals) {
  double mean = 0, square = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  for (double v : values) square += (v - mean) * (v - mean);
  const double deviation =
      values.size() > 1 ? std::sqrt(square / static_cast<double>(values.size() - 1)) : 0.0;
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f ± %.*f", decimals, mean, decimals, deviation);
  return text;
}

int benchmark(int argc, char** argv) {
  CLI::App app{"Translation quality per training step on tasks with known answers"};
  fs::path work = "bench_quality";
  std::string task_list = "grade64", step_list;
  std::vector<std::string> recipe_texts = {"official", "fast"};
  std::vector<std::string> extra;
  int seeds = 3;
  int64_t steps = 1200, eval_every = 200, train_count = 600, test_count = 100;
  bool timing = false;
  app.add_option("--work", work, "Folder for the datasets, runs and results.csv");
  app.add_option("--tasks", task_list, "Comma-separated make-data task and size: grade64, skin64");
  app.add_option(
         "--recipes", recipe_texts,
         "';'-separated train.recipe names, or NAME:key=value,key=value (overrides of the official "
         "configuration)")
      ->delimiter(';');
  app.add_option("--seeds", seeds, "Seeds per recipe (train.seed 1..N)")
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Training steps (half at the full rate, half decaying)")
      ->check(CLI::PositiveNumber);
  app.add_option("--eval-every", eval_every, "Steps between measurements")
      ->check(CLI::PositiveNumber);
  app.add_option("--train-count", train_count, "Training images per domain");
  app.add_option("--test-count", test_count, "Test images per domain");
  app.add_option("--report-steps", step_list,
                 "Comma-separated steps for the table (default: every measurement)");
  app.add_option("--set", extra, "key=value for every run (after the recipe's)");
  app.add_flag("--timing", timing, "Also print seconds per step of each recipe (medians)");
  CLI11_PARSE(app, argc, argv);
  if (steps % (2 * train_count) != 0) {
    std::cerr << "error: --steps must be a multiple of 2 x --train-count (" << 2 * train_count
              << "): half the epochs at the full rate, half decaying\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  configure_threads(0);

  std::vector<Task> tasks;
  std::stringstream task_names(task_list);
  for (std::string name; std::getline(task_names, name, ',');) tasks.push_back(parse_task(name));
  std::vector<Recipe> recipes;
  for (const auto& text : recipe_texts) recipes.push_back(parse_recipe(text));

  fs::create_directories(work);
  std::ofstream results(work / "results.csv", std::ios::trunc);
  results << "task,recipe,seed,step,direction,psnr,ssim,l1\n";
  std::map<std::string, std::vector<double>> seconds_per_step;  // recipe -> per run

  for (const Task& task : tasks) {
    const fs::path data = work / "data" / task.name;
    if (!fs::exists(data / "testB_gt")) {
      SyntheticFruitOptions options;
      options.root = data;
      options.task = task.kind;
      options.image_size = task.size;
      options.train_per_domain = static_cast<int>(train_count);
      options.test_per_domain = static_cast<int>(test_count);
      make_fruit_dataset(options);
    }
    // Floors.
    const Histograms a = level_histograms(data / "trainA"), b = level_histograms(data / "trainB");
    const at::Tensor a_to_b = matching_table(a, b), b_to_a = matching_table(b, a);
    std::map<std::string, std::map<std::string, Scores>> floors;  // floor -> direction
    auto unchanged = [](const at::Tensor& image) { return image; };
    floors["unchanged"]["A2B"] = score_folder(data / "testA", data / "testA_gt", unchanged);
    floors["unchanged"]["B2A"] = score_folder(data / "testB", data / "testB_gt", unchanged);
    floors["histogram matching"]["A2B"] =
        score_folder(data / "testA", data / "testA_gt",
                     [&](const at::Tensor& x) { return apply_table(x, a_to_b); });
    floors["histogram matching"]["B2A"] =
        score_folder(data / "testB", data / "testB_gt",
                     [&](const at::Tensor& x) { return apply_table(x, b_to_a); });

    std::map<std::string, std::vector<Curve>> curves;  // recipe -> one per seed
    std::vector<std::pair<std::string, fs::path>> first_seed_runs;
    for (const Recipe& recipe : recipes) {
      for (int seed = 1; seed <= seeds; ++seed) {
        const fs::path run = work / "runs" /
                             (task.name + "_" + recipe.name + "_" + std::to_string(seed) + "_" +
                              std::to_string(steps));
        if (seed == 1) first_seed_runs.emplace_back(recipe.name, run);
        Curve curve;
        if (fs::exists(run / "quality.csv")) curve = read_quality_csv(run / "quality.csv");
        if (curve.at_step.empty() || curve.at_step.rbegin()->first < steps) {
          fs::remove_all(run);
          TrainConfig config;
          const int64_t epochs = steps / train_count / 2;
          for (const std::string& assignment : std::vector<std::string>{
                   "data.root=" + data.string(), "data.load_size=0",
                   "model.input_dim=" + std::to_string(task.size),
                   "model.generator_type=resnet_6blocks", "model.gen_n_filters=32",
                   "model.disc_n_filters=32", "train.lambda_validation=1",
                   "train.lambda_reconstr=10", "train.lambda_id=5", "train.pool_size=50",
                   "train.epochs=" + std::to_string(epochs),
                   "train.decay_epochs=" + std::to_string(epochs),
                   "train.seed=" + std::to_string(seed), "output.dir=" + run.string(),
                   "output.eval_every=" + std::to_string(eval_every),
                   "output.eval_images=" + std::to_string(test_count), "output.sample_every=0",
                   "output.log_every=" + std::to_string(steps)}) {
            apply_override(config, assignment);
          }
          for (const auto& assignment : recipe.overrides) apply_override(config, assignment);
          for (const auto& assignment : extra) apply_override(config, assignment);
          validate(config, "recipe " + recipe.name);
          Trainer trainer(config);
          const auto start = std::chrono::steady_clock::now();
          trainer.run();
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          seconds_per_step[recipe.name].push_back(seconds / static_cast<double>(steps));
          curve = read_quality_csv(run / "quality.csv");
          std::cerr << task.name << " " << recipe.name << " seed " << seed << ": " << seconds
                    << " s\n";
        }
        for (const auto& [step, directions] : curve.at_step) {
          for (const auto& [direction, scores] : directions) {
            results << task.name << "," << recipe.name << "," << seed << "," << step << ","
                    << direction << "," << scores.psnr << "," << scores.ssim << "," << scores.l1
                    << "\n";
          }
        }
        results.flush();
        curves[recipe.name].push_back(curve);
      }
    }

    const fs::path sheet = work / ("samples_" + task.name + "_" + std::to_string(steps) + ".png");
    write_sample_sheet(sheet, data, first_seed_runs, 4);
    std::cerr << "samples (input, each recipe's seed 1, truth): " << sheet.string() << "\n";

    std::vector<int64_t> report_steps;
    std::stringstream wanted(step_list);
    for (std::string step; std::getline(wanted, step, ',');)
      report_steps.push_back(std::stoll(step));
    if (report_steps.empty()) {
      for (const auto& [step, unused] : curves.begin()->second.front().at_step)
        report_steps.push_back(step);
    }
    std::cout << "\n## " << task.name << " (" << train_count << " unpaired training images per "
              << "domain, " << test_count << " test images with truths; " << seeds
              << " seeds)\n\n| | step | A2B PSNR (dB) | A2B SSIM | B2A PSNR (dB) | B2A SSIM |\n"
              << "| --- | --- | --- | --- | --- | --- |\n";
    for (const auto& [name, directions] : floors) {
      std::printf("| %s | | %.2f | %.3f | %.2f | %.3f |\n", name.c_str(), directions.at("A2B").psnr,
                  directions.at("A2B").ssim, directions.at("B2A").psnr, directions.at("B2A").ssim);
    }
    std::fflush(stdout);
    for (const Recipe& recipe : recipes) {
      for (int64_t step : report_steps) {
        std::cout << "| " << recipe.name << " | " << step;
        for (const char* direction : {"A2B", "B2A"}) {
          std::vector<double> psnrs, ssims;
          for (const Curve& curve : curves[recipe.name]) {
            const auto found = curve.at_step.find(step);
            if (found == curve.at_step.end() || found->second.count(direction) == 0) continue;
            psnrs.push_back(found->second.at(direction).psnr);
            ssims.push_back(found->second.at(direction).ssim);
          }
          if (psnrs.empty()) {
            std::cout << " | - | -";
          } else {
            std::cout << " | " << mean_spread(psnrs, 2) << " | " << mean_spread(ssims, 3);
          }
        }
        std::cout << " |\n";
      }
    }
  }
  if (timing) {
    std::cout << "\n| recipe | seconds per step (median of runs, evaluation included) |\n"
              << "| --- | --- |\n";
    for (auto& [name, values] : seconds_per_step) {
      std::sort(values.begin(), values.end());
      std::printf("| %s | %.4f |\n", name.c_str(), values[values.size() / 2]);
    }
  }
  std::cout << "\nper-run curves: " << (work / "results.csv").string() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return benchmark(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
