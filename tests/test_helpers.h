#pragma once

// Small helpers shared by the tests: temporary folders and paths of the build.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace cyclegan::testing {

/// A fresh folder under the system temp directory, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "cyclegan_test_";
    if (info != nullptr) name += std::string(info->test_suite_name()) + "_" + info->name() + "_";
    name += std::to_string(::getpid()) + "_" + std::to_string(counter++);
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

/// The repository root (ctest sets CYCLEGAN_SOURCE_DIR; otherwise derived from this file).
inline std::filesystem::path source_dir() {
  if (const char* dir = std::getenv("CYCLEGAN_SOURCE_DIR")) return dir;
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}

/// The cyclegan executable (ctest sets CYCLEGAN_EXE); empty when unknown.
inline std::string executable() {
  const char* exe = std::getenv("CYCLEGAN_EXE");
  return exe != nullptr ? exe : "";
}

}  // namespace cyclegan::testing
