#include "cyclegan/losses.h"

#include <torch/torch.h>

#include <stdexcept>

#include "kernels/kernels.h"

namespace cyclegan {

at::Tensor gan_mse_loss(const at::Tensor& prediction, double target) {
  return (prediction - target).pow(2).mean();
}

GanMode gan_mode_from_name(const std::string& name) {
  if (name == "lsgan") return GanMode::kLsgan;
  if (name == "vanilla") return GanMode::kVanilla;
  if (name == "wgangp") return GanMode::kWgangp;
  throw std::invalid_argument("gan mode must be lsgan, vanilla or wgangp, got '" + name + "'");
}

at::Tensor gan_loss(const at::Tensor& prediction, bool as_real, GanMode mode) {
  switch (mode) {
    case GanMode::kLsgan:
      return gan_mse_loss(prediction, as_real ? 1.0 : 0.0);
    case GanMode::kVanilla:
      return at::binary_cross_entropy_with_logits(prediction,
                                                  at::full_like(prediction, as_real ? 1.0 : 0.0));
    case GanMode::kWgangp:
      return as_real ? -prediction.mean() : prediction.mean();
  }
  throw std::invalid_argument("gan_loss: unknown mode");
}

at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& discriminator,
                            const at::Tensor& real, const at::Tensor& fake, const at::Tensor& alpha,
                            double weight) {
  TORCH_CHECK(real.sizes() == fake.sizes(), "gradient_penalty: real ", real.sizes(), " and fake ",
              fake.sizes(), " differ");
  // On LibTorch's operators: the penalty's backward differentiates D's input gradient again,
  // which the kernels' backward passes do not provide.
  const kernels::PolicyGuard plain(kernels::Policy::plain());
  const at::Tensor a = alpha.to(real.options()).view({real.size(0), 1, 1, 1});
  const at::Tensor mixed = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(true);
  const at::Tensor scores = discriminator(mixed);
  const at::Tensor gradient = torch::autograd::grad({scores}, {mixed}, {at::ones_like(scores)},
                                                    /*retain_graph=*/true,
                                                    /*create_graph=*/true)[0];
  // (+1e-16 as the official code: the norm's gradient at exactly zero would be NaN.)
  const at::Tensor norms = (gradient.reshape({real.size(0), -1}) + 1e-16).norm(2, 1);
  return (norms - 1).pow(2).mean() * weight;
}

at::Tensor mean_absolute_error(const at::Tensor& output, const at::Tensor& target) {
  return (output - target).abs().mean();
}

GeneratorTerms generator_terms(const at::Tensor& d_of_fake, const at::Tensor& reconstructed,
                               const at::Tensor& real, const at::Tensor& identity_output,
                               const at::Tensor& other_real, const LossWeights& weights) {
  GeneratorTerms terms;
  terms.validity = gan_loss(d_of_fake, /*as_real=*/true, weights.gan_mode);
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

at::Tensor discriminator_loss(const at::Tensor& d_of_real, const at::Tensor& d_of_fake,
                              GanMode mode, const at::Tensor& penalty) {
  const at::Tensor halved = 0.5 * (gan_loss(d_of_real, /*as_real=*/true, mode) +
                                   gan_loss(d_of_fake, /*as_real=*/false, mode));
  return penalty.defined() ? halved + penalty : halved;
}

}  // namespace cyclegan
