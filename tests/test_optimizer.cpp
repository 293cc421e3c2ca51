// FusedAdam must be torch::optim::Adam: the same updates to float rounding, the same state, and
// checkpoints that either optimizer can load.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "optimizer.h"

namespace cyclegan {
namespace {

// Parameters of assorted sizes (one larger than a parallel task), and a gradient per step that
// changes sign and scale, so both moments and the bias corrections all matter.
std::vector<at::Tensor> make_parameters() {
  torch::manual_seed(21);
  return {torch::randn({70001}), torch::randn({3, 5, 4, 4}), torch::randn({1})};
}

void set_gradients(std::vector<at::Tensor>& parameters, int step) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    torch::manual_seed(100 * step + static_cast<int64_t>(i));
    parameters[i].mutable_grad() =
        torch::randn(parameters[i].sizes(), parameters[i].scalar_type()) * (step % 2 ? 1e-3 : 2.0);
  }
}

std::vector<at::Tensor> copies(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> result;
  for (const auto& tensor : tensors) result.push_back(tensor.detach().clone());
  return result;
}

double largest_relative_difference(const std::vector<at::Tensor>& a,
                                   const std::vector<at::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, ((a[i] - b[i]).abs() / (b[i].abs() + 1e-6)).max().item<double>());
  }
  return worst;
}

const auto kOptions = torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999));

// Six steps of FusedAdam on `parameters` and of LibTorch's Adam on copies of them, with the same
// gradients; returns the copies.
std::vector<at::Tensor> six_steps_of_both(std::vector<at::Tensor>& parameters) {
  auto plain_parameters = copies(parameters);
  FusedAdam fused(parameters, kOptions);
  torch::optim::Adam plain(plain_parameters, kOptions);
  for (int step = 1; step <= 6; ++step) {
    set_gradients(parameters, step);
    set_gradients(plain_parameters, step);
    fused.step();
    plain.step();
  }
  return plain_parameters;
}

TEST(FusedAdam, UpdatesMatchLibTorchsAdamToFloatRounding) {
  auto fused_parameters = make_parameters();
  const auto initial = copies(fused_parameters);
  const auto plain_parameters = six_steps_of_both(fused_parameters);
  // Six steps of about lr each moved every parameter; they moved alike.
  EXPECT_GT(largest_relative_difference(copies(fused_parameters), initial), 1e-5);
  const double difference = largest_relative_difference(fused_parameters, plain_parameters);
  std::cout << "  FusedAdam vs torch::optim::Adam after 6 steps: largest relative difference "
            << difference << "\n";
  EXPECT_LT(difference, 1e-6);
}

// What the fused loop cannot take (CUDA tensors, other dtypes, strided views) goes through the
// multi-tensor operators in the same step as the fusable parameters: CPU stand-ins here.
TEST(FusedAdam, ParametersItCannotFuseGetAdamsUpdateThroughMultiTensorOperators) {
  torch::manual_seed(22);
  std::vector<at::Tensor> fused_parameters = {
      torch::randn({70001}),                        // fused loop
      torch::randn({6, 4}).t().detach(),            // not contiguous
      torch::randn({3, 5, 4, 4}, torch::kFloat64),  // not float32
      torch::randn({1}, torch::kFloat64)};
  const auto initial = copies(fused_parameters);
  const auto plain_parameters = six_steps_of_both(fused_parameters);
  for (size_t i = 0; i < fused_parameters.size(); ++i) {
    EXPECT_GT(largest_relative_difference({fused_parameters[i].detach().clone()}, {initial[i]}),
              1e-5)
        << "parameter " << i << " did not move";
    const double difference =
        largest_relative_difference({fused_parameters[i]}, {plain_parameters[i]});
    std::cout << "  parameter " << i << " (" << fused_parameters[i].scalar_type()
              << (fused_parameters[i].is_contiguous() ? "" : ", strided")
              << ") vs torch::optim::Adam after 6 steps: largest relative difference " << difference
              << "\n";
    EXPECT_LT(difference, fused_parameters[i].scalar_type() == torch::kFloat64 ? 1e-12 : 1e-6);
  }
}

TEST(FusedAdam, StateIsAdamsAndCheckpointsAreInterchangeable) {
  auto parameters = make_parameters();
  FusedAdam fused(parameters, kOptions);
  for (int step = 1; step <= 3; ++step) {
    set_gradients(parameters, step);
    fused.step();
  }
  std::stringstream file;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(file);
  }
  // LibTorch's Adam continues from FusedAdam's checkpoint exactly as FusedAdam does: same step
  // count and moments.
  auto resumed_parameters = copies(parameters);
  torch::optim::Adam resumed(resumed_parameters, kOptions);
  torch::serialize::InputArchive archive;
  archive.load_from(file);
  resumed.load(archive);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto& ours = static_cast<torch::optim::AdamParamState&>(
        *fused.state().at(FusedAdam::state_key(parameters[i])));
    const auto& theirs = static_cast<torch::optim::AdamParamState&>(
        *resumed.state().at(FusedAdam::state_key(resumed_parameters[i])));
    EXPECT_EQ(ours.step(), 3);
    EXPECT_EQ(theirs.step(), 3);
    EXPECT_TRUE(torch::equal(ours.exp_avg(), theirs.exp_avg()));
    EXPECT_TRUE(torch::equal(ours.exp_avg_sq(), theirs.exp_avg_sq()));
  }
}

TEST(FusedAdam, WeightDecayTakesLibTorchsAdam) {
  auto fused_parameters = make_parameters();
  auto plain_parameters = copies(fused_parameters);
  const auto options = torch::optim::AdamOptions(kOptions).weight_decay(0.1);
  FusedAdam fused(fused_parameters, options);
  torch::optim::Adam plain(plain_parameters, options);
  set_gradients(fused_parameters, 1);
  set_gradients(plain_parameters, 1);
  fused.step();
  plain.step();
  for (size_t i = 0; i < fused_parameters.size(); ++i) {
    EXPECT_TRUE(torch::equal(fused_parameters[i], plain_parameters[i]));
  }
}

}  // namespace
}  // namespace cyclegan
