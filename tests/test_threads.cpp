#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "cyclegan/trainer.h"

namespace cyclegan {
namespace {

size_t threads_in_this_process() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

// at::set_num_threads() rebuilt LibTorch's pthreadpool, whose fresh worker spun on a core that
// the first training step needed (0.05 s of the book U-Net's start-up), and every other thread's
// first parallel operation rebuilt it again.
TEST(Threads, ConfiguringThreadsStartsNoWorkerThreadAndSetsOnlyTheCallingThread) {
#ifndef _OPENMP
  GTEST_SKIP() << "built without OpenMP (the Clang sanitizer builds): at::set_num_threads() then";
#endif
  const size_t before = threads_in_this_process();
  EXPECT_EQ(configure_threads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(threads_in_this_process(), before);

  int loader_threads = 0;
  std::thread loader([&loader_threads] {
    (torch::ones({64, 64}) * 2).sum();  // a parallel operation, as a loader worker would run
    loader_threads = at::get_num_threads();
  });
  loader.join();
  EXPECT_EQ(loader_threads, 1);
  EXPECT_EQ(at::get_num_threads(), 2);

  // The calling thread's operations do run on both threads.
  std::atomic<int> seen{0};
  at::parallel_for(0, 2, 1, [&seen](int64_t, int64_t) {
    if (at::get_thread_num() == 1) seen = 1;
  });
  EXPECT_EQ(seen.load(), 1);
}

}  // namespace
}  // namespace cyclegan
