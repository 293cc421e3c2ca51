#include "cyclegan/losses.h"

#include <torch/torch.h>

namespace cyclegan {

at::Tensor gan_mse_loss(const at::Tensor& prediction, double target) {
  return (prediction - target).pow(2).mean();
}

at::Tensor mean_absolute_error(const at::Tensor& output, const at::Tensor& target) {
  return (output - target).abs().mean();
}

GeneratorTerms generator_terms(const at::Tensor& d_of_fake, const at::Tensor& reconstructed,
                               const at::Tensor& real, const at::Tensor& identity_output,
                               const at::Tensor& other_real, const LossWeights& weights) {
  GeneratorTerms terms;
  terms.validity = gan_mse_loss(d_of_fake, 1.0);
  terms.reconstr = mean_absolute_error(reconstructed, real);
  terms.weighted = weights.validation * terms.validity + weights.reconstr * terms.reconstr;
  if (weights.id > 0) {
    TORCH_CHECK(identity_output.defined(),
                "generator_terms: the identity output is required when the identity weight is > 0");
    terms.identity = mean_absolute_error(identity_output, other_real);
    terms.weighted = terms.weighted + weights.id * terms.identity;
  }
  return terms;
}

GeneratorLoss generator_loss(const at::Tensor& d_b_of_fake_b, const at::Tensor& d_a_of_fake_a,
                             const at::Tensor& real_a, const at::Tensor& rec_a,
                             const at::Tensor& real_b, const at::Tensor& rec_b,
                             const at::Tensor& idt_a, const at::Tensor& idt_b,
                             const LossWeights& weights) {
  // G_AB's share: a -> fake b -> rec a, and b -> G_AB(b) = idt_b; G_BA's likewise.
  const GeneratorTerms ab = generator_terms(d_b_of_fake_b, rec_a, real_a, idt_b, real_b, weights);
  const GeneratorTerms ba = generator_terms(d_a_of_fake_a, rec_b, real_b, idt_a, real_a, weights);
  GeneratorLoss loss;
  loss.validity = ab.validity + ba.validity;
  loss.reconstr = ab.reconstr + ba.reconstr;
  loss.identity = weights.id > 0 ? ab.identity + ba.identity : torch::zeros({}, real_a.options());
  loss.total = ab.weighted + ba.weighted;
  return loss;
}

at::Tensor discriminator_loss(const at::Tensor& d_of_real, const at::Tensor& d_of_fake) {
  return 0.5 * (gan_mse_loss(d_of_real, 1.0) + gan_mse_loss(d_of_fake, 0.0));
}

}  // namespace cyclegan
