#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cyclegan/losses.h"

namespace cyclegan {
namespace {

TEST(Losses, GanMseAgainstTargetByHand) {
  auto prediction = torch::tensor({0.5f, 1.5f, 1.0f, -1.0f});
  // (0.25 + 0.25 + 0 + 4) / 4 = 1.125 against 1; (0.25 + 2.25 + 1 + 1) / 4 = 1.125 against 0.
  EXPECT_NEAR(gan_mse_loss(prediction, 1.0).item<double>(), 1.125, 1e-6);
  EXPECT_NEAR(gan_mse_loss(prediction, 0.0).item<double>(), 1.125, 1e-6);
}

TEST(Losses, MeanAbsoluteErrorByHand) {
  auto output = torch::tensor({0.f, 1.f, -1.f, 0.5f});
  auto target = torch::tensor({1.f, 1.f, 1.f, 0.f});
  EXPECT_NEAR(mean_absolute_error(output, target).item<double>(), (1 + 0 + 2 + 0.5) / 4, 1e-6);
}

TEST(Losses, GeneratorTotalIsTheWeightedSumOfItsTerms) {
  torch::manual_seed(3);
  auto d_b_fake = torch::rand({1, 1, 6, 6});
  auto d_a_fake = torch::rand({1, 1, 6, 6});
  auto real_a = torch::rand({1, 3, 8, 8});
  auto rec_a = torch::rand({1, 3, 8, 8});
  auto real_b = torch::rand({1, 3, 8, 8});
  auto rec_b = torch::rand({1, 3, 8, 8});
  auto idt_a = torch::rand({1, 3, 8, 8});
  auto idt_b = torch::rand({1, 3, 8, 8});
  const LossWeights weights{1.0, 10.0, 2.0};
  const GeneratorLoss loss =
      generator_loss(d_b_fake, d_a_fake, real_a, rec_a, real_b, rec_b, idt_a, idt_b, weights);

  const double validity =
      (d_b_fake - 1).pow(2).mean().item<double>() + (d_a_fake - 1).pow(2).mean().item<double>();
  const double reconstr =
      (rec_a - real_a).abs().mean().item<double>() + (rec_b - real_b).abs().mean().item<double>();
  const double identity =
      (idt_a - real_a).abs().mean().item<double>() + (idt_b - real_b).abs().mean().item<double>();
  EXPECT_NEAR(loss.validity.item<double>(), validity, 1e-6);
  EXPECT_NEAR(loss.reconstr.item<double>(), reconstr, 1e-6);
  EXPECT_NEAR(loss.identity.item<double>(), identity, 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), 1.0 * validity + 10.0 * reconstr + 2.0 * identity, 1e-5);
}

TEST(Losses, IdentityTermIsSkippedWhenItsWeightIsZero) {
  auto x = torch::rand({1, 3, 8, 8});
  auto d = torch::rand({1, 1, 6, 6});
  const GeneratorLoss loss = generator_loss(d, d, x, x + 0.5, x, x, at::Tensor(), at::Tensor(),
                                            LossWeights{1.0, 10.0, 0.0});
  EXPECT_EQ(loss.identity.item<double>(), 0.0);
  EXPECT_NEAR(loss.total.item<double>(),
              loss.validity.item<double>() + 10.0 * loss.reconstr.item<double>(), 1e-5);
  EXPECT_NEAR(loss.reconstr.item<double>(), 0.5, 1e-6);
}

TEST(Losses, DiscriminatorLossIsHalfTheSumOfRealAndFakeTerms) {
  auto on_real = torch::full({1, 1, 2, 2}, 0.5f);  // (0.5 - 1)^2 = 0.25
  auto on_fake = torch::full({1, 1, 2, 2}, 0.5f);  // (0.5 - 0)^2 = 0.25
  EXPECT_NEAR(discriminator_loss(on_real, on_fake).item<double>(), 0.25, 1e-6);
  EXPECT_NEAR(
      discriminator_loss(torch::ones({1, 1, 2, 2}), torch::zeros({1, 1, 2, 2})).item<double>(), 0.0,
      1e-9);
}

}  // namespace
}  // namespace cyclegan
