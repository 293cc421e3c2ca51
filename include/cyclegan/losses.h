#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace cyclegan {

/// Least-squares GAN loss (CycleGAN §4, the book's 'mse'): mean((prediction - target)^2).
at::Tensor gan_mse_loss(const at::Tensor& prediction, double target);

/// The adversarial objectives of the official trainer's --gan_mode.
enum class GanMode {
  kLsgan,    ///< mean squared error against 1 (real) or 0 (fake): the paper's
  kVanilla,  ///< binary cross-entropy of the logits against 1 or 0 (the original GAN)
  kWgangp,   ///< Wasserstein: -mean (real) or +mean (fake), with a gradient penalty on D
};

/// "lsgan", "vanilla" or "wgangp"; throws std::invalid_argument otherwise.
GanMode gan_mode_from_name(const std::string& name);

/// The official GANLoss: `prediction` (a discriminator's raw scores) judged as real or as fake.
at::Tensor gan_loss(const at::Tensor& prediction, bool as_real, GanMode mode);

/// WGAN-GP's gradient penalty (Gulrajani et al. 2017, the official cal_gradient_penalty 'mixed'):
/// weight * mean over samples of (||d discriminator(x) / dx||_2 - 1)^2, at x = alpha real +
/// (1 - alpha) fake with `alpha` [N] in [0, 1] per sample. The result's graph runs through the
/// input gradient (create_graph), so its backward reaches the discriminator's weights; the
/// discriminator runs on LibTorch's operators there (kernels::Policy::plain()).
at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& discriminator,
                            const at::Tensor& real, const at::Tensor& fake, const at::Tensor& alpha,
                            double weight);

/// Mean absolute error, used for cycle reconstruction and identity.
at::Tensor mean_absolute_error(const at::Tensor& output, const at::Tensor& target);

struct LossWeights {
  double validation = 1.0;
  double reconstr = 10.0;
  double id = 2.0;
  GanMode gan_mode = GanMode::kLsgan;  ///< the validity term's objective (and the discriminators')
};

/// One generator's share of the joint objective, for G applied first (G_AB to A images, or G_BA
/// to B images) with F the other generator and D the other domain's discriminator.
struct GeneratorTerms {
  at::Tensor validity;  ///< gan_loss(D(G(real)), real): MSE(D(G(real)), 1) for lsgan
  at::Tensor reconstr;  ///< L1(F(G(real)), real)
  at::Tensor identity;  ///< L1(G(other_real), other_real); undefined when weights.id == 0
  at::Tensor weighted;  ///< validation * validity + reconstr * reconstr [+ id * identity]
};

/// The terms from D(G(real)), F(G(real)) and G(other_real) (undefined when weights.id == 0).
/// The trainer backpropagates each generator's share as soon as it is computed.
GeneratorTerms generator_terms(const at::Tensor& d_of_fake, const at::Tensor& reconstructed,
                               const at::Tensor& real, const at::Tensor& identity_output,
                               const at::Tensor& other_real, const LossWeights& weights);

/// The generators' joint objective, term by term (each a scalar tensor).
struct GeneratorLoss {
  at::Tensor validity;  ///< MSE(D_B(G_AB(a)), 1) + MSE(D_A(G_BA(b)), 1)
  at::Tensor reconstr;  ///< L1(G_BA(G_AB(a)), a) + L1(G_AB(G_BA(b)), b)
  at::Tensor identity;  ///< L1(G_BA(a), a) + L1(G_AB(b), b); zero when the weight is 0
  at::Tensor total;     ///< weighted sum of the three
};

/// Both generators' shares (generator_terms) added up; `idt_a` = G_BA(a) and `idt_b` = G_AB(b)
/// may be undefined when weights.id == 0 (the identity passes are then skipped).
GeneratorLoss generator_loss(const at::Tensor& d_b_of_fake_b, const at::Tensor& d_a_of_fake_a,
                             const at::Tensor& real_a, const at::Tensor& rec_a,
                             const at::Tensor& real_b, const at::Tensor& rec_b,
                             const at::Tensor& idt_a, const at::Tensor& idt_b,
                             const LossWeights& weights);

/// Scalar values of every loss term of one training step (for logs and losses.csv).
struct StepLosses {
  double d_a = 0;
  double d_b = 0;
  double g_total = 0;
  double g_validity = 0;
  double g_reconstr = 0;
  double g_identity = 0;
};

/// One discriminator's loss: (gan_loss(D(real), real) + gan_loss(D(fake), fake)) / 2, halved so D
/// learns at half the generators' rate (official CycleGAN `backward_D_basic`); for lsgan
/// (MSE(D(real), 1) + MSE(D(fake), 0)) / 2. A gradient penalty, where there is one, is added after
/// the halving (as code built on the official trainer adds cal_gradient_penalty's).
at::Tensor discriminator_loss(const at::Tensor& d_of_real, const at::Tensor& d_of_fake,
                              GanMode mode = GanMode::kLsgan,
                              const at::Tensor& penalty = at::Tensor());

}  // namespace cyclegan
