#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "cuda_graph.h"
#include "cyclegan/trainer.h"

namespace cyclegan {
namespace {

// The official U-Net: unlike the ResNets' reflection padding, nothing in it adds atomically on a
// GPU, so with fixed cuDNN algorithms two runs agree bit for bit.
TrainConfig small_config(const std::string& device, bool cuda_graphs) {
  TrainConfig config;
  config.generator_type = "unet_128";
  config.gen_n_filters = 8;
  config.disc_n_filters = 8;
  config.input_dim = 128;
  config.load_size = 128;
  config.pool_size = 2;  // the third step on draws from the history pool
  config.device = device;
  config.cuda_graphs = cuda_graphs;
  return config;
}

at::Tensor images(int64_t step, int64_t domain) {
  const auto seed = static_cast<uint64_t>(10 * step + domain);
  return at::rand({1, 3, 128, 128}, at::make_generator<at::CPUGeneratorImpl>(seed)) * 2 - 1;
}

TEST(CudaGraphs, TrainingOnTheCpuStepsKernelByKernelWhateverTheSetting) {
  Trainer with_setting(small_config("cpu", true));
  Trainer without(small_config("cpu", false));
  for (int64_t step = 0; step < 3; ++step) {
    const StepLosses expected = without.step(images(step, 0), images(step, 1));
    const StepLosses actual = with_setting.step(images(step, 0), images(step, 1));
    EXPECT_FALSE(with_setting.replaying_cuda_graphs());
    EXPECT_EQ(actual.g_total, expected.g_total) << "step " << step + 1;
    EXPECT_EQ(actual.d_a, expected.d_a) << "step " << step + 1;
  }
}

TEST(CudaGraphs, ABuildWithoutCudaRefusesToRecord) {
  if (cuda_graphs_supported()) GTEST_SKIP() << "this LibTorch has CUDA";
  CudaGraph graph;
  EXPECT_THROW(graph.capture(torch::Device(torch::kCUDA), [] {}), std::runtime_error);
}

// The replayed steps launch the kernels the recorded step launched, on memory that holds the
// current step's inputs: losses and weights are the kernel-by-kernel run's, history pool and all.
// (bench/gpu.sh runs the same comparison at full width.)
TEST(CudaGraphs, ReplayedStepsTrainAsKernelByKernelSteps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  Trainer eager(small_config("cuda", false));
  Trainer graphs(small_config("cuda", true));
  // After the constructors, which turn cuDNN's timing-based choice on: fixed algorithms.
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setDeterministicCuDNN(true);
  for (int64_t step = 0; step < 5; ++step) {
    const StepLosses expected = eager.step(images(step, 0), images(step, 1));
    const StepLosses actual = graphs.step(images(step, 0), images(step, 1));
    EXPECT_EQ(graphs.replaying_cuda_graphs(), step >= 1) << "step " << step + 1;
    EXPECT_EQ(actual.g_total, expected.g_total) << "step " << step + 1;
    EXPECT_EQ(actual.d_a, expected.d_a) << "step " << step + 1;
    EXPECT_EQ(actual.d_b, expected.d_b) << "step " << step + 1;
  }
  EXPECT_FALSE(eager.replaying_cuda_graphs());
  const auto expected = eager.g_ab()->parameters();
  const auto actual = graphs.g_ab()->parameters();
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(at::equal(actual[i], expected[i])) << "parameter " << i;
  }
}

}  // namespace
}  // namespace cyclegan
