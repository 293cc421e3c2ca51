#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "cyclegan/synthetic.h"

namespace cyclegan::cli {

std::function<int()> add_make_data_command(CLI::App& app) {
  auto options = std::make_shared<SyntheticFruitOptions>();
  options->root = "datasets/fruit";
  auto force = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand(
      "make-data", "Draw the built-in apples (A) / oranges (B) dataset; no network needed");
  command->add_option("-o,--out", options->root, "Dataset folder to create")->capture_default_str();
  command->add_option("--count", options->train_per_domain, "Training images per domain")
      ->capture_default_str()
      ->check(above_zero());
  command->add_option("--test-count", options->test_per_domain, "Test images per domain")
      ->capture_default_str()
      ->check(above_zero());
  command->add_option("--size", options->image_size, "Image side in pixels (>= 16)")
      ->capture_default_str()
      ->check(CLI::Range(16, 4096));
  command->add_option("--seed", options->seed, "Random seed; the same seed gives the same files")
      ->capture_default_str();
  command
      ->add_option("--task", options->task,
                   "fruit: apples (A) and oranges (B); grade: fruit (A) and colour-graded fruit "
                   "(B); skin: apples (A) and oranges (B) whose test truths are the same scenes "
                   "with the other fruit's skin. grade and skin put each test image's correct "
                   "translation in testA_gt/ and testB_gt/")
      ->capture_default_str()
      ->check(CLI::IsMember({"fruit", "grade", "skin"}));
  command->add_flag("--force", *force, "Replace an existing dataset folder");
  command->footer(
      "Examples:\n"
      "  cyclegan make-data --out datasets/fruit\n"
      "  cyclegan make-data --out datasets/fruit32 --size 32 --count 50 --test-count 5\n"
      "  cyclegan make-data --out datasets/grade --task grade\n"
      "  cyclegan make-data --out datasets/skin --task skin\n");
  return [options, force] {
    namespace fs = std::filesystem;
    const fs::path& root = options->root;
    std::vector<std::string> folders = {"trainA", "trainB", "testA", "testB"};
    if (options->task != "fruit") folders.insert(folders.end(), {"testA_gt", "testB_gt"});
    bool complete = true;
    for (const std::string& folder : folders)
      complete = complete && fs::is_directory(root / folder);
    if (complete && !*force) {
      std::cerr << root.string() << " already holds the dataset's folders; keeping it "
                << "(--force replaces it)\n";
      std::cout << root.string() << "\n";
      return 0;
    }
    if (*force) {
      for (const std::string& folder : folders) fs::remove_all(root / folder);
    }
    const int written = make_fruit_dataset(*options);
    std::cerr << "wrote " << written << " images\n";
    std::cout << root.string() << "\n";
    return 0;
  };
}

}  // namespace cyclegan::cli
