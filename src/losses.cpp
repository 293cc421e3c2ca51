#include "cyclegan/losses.h"

#include <torch/torch.h>

namespace cyclegan {

at::Tensor gan_mse_loss(const at::Tensor& prediction, double target) {
  return (prediction - target).pow(2).mean();
}

at::Tensor mean_absolute_error(const at::Tensor& output, const at::Tensor& target) {
  return (output - target).abs().mean();
}

GeneratorLoss generator_loss(const at::Tensor& d_b_of_fake_b, const at::Tensor& d_a_of_fake_a,
                             const at::Tensor& real_a, const at::Tensor& rec_a,
                             const at::Tensor& real_b, const at::Tensor& rec_b,
                             const at::Tensor& idt_a, const at::Tensor& idt_b,
                             const LossWeights& weights) {
  GeneratorLoss loss;
  loss.validity = gan_mse_loss(d_b_of_fake_b, 1.0) + gan_mse_loss(d_a_of_fake_a, 1.0);
  loss.reconstr = mean_absolute_error(rec_a, real_a) + mean_absolute_error(rec_b, real_b);
  if (weights.id > 0) {
    TORCH_CHECK(idt_a.defined() && idt_b.defined(),
                "generator_loss: identity outputs are required when the identity weight is > 0");
    loss.identity = mean_absolute_error(idt_a, real_a) + mean_absolute_error(idt_b, real_b);
  } else {
    loss.identity = torch::zeros({}, real_a.options());
  }
  loss.total = weights.validation * loss.validity + weights.reconstr * loss.reconstr +
               weights.id * loss.identity;
  return loss;
}

at::Tensor discriminator_loss(const at::Tensor& d_of_real, const at::Tensor& d_of_fake) {
  return 0.5 * (gan_mse_loss(d_of_real, 1.0) + gan_mse_loss(d_of_fake, 0.0));
}

}  // namespace cyclegan
