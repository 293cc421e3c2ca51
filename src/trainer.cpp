#include "cyclegan/trainer.h"

#include "console_log.h"

#include <torch/torch.h>

#include <array>
#include <chrono>
#include <cmath>
#include <sstream>
#include <utility>

#include "cyclegan/atomic_file.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/distributed.h"
#include "cyclegan/errors.h"
#include "cyclegan/report.h"
#include "kernels/kernels.h"
#include "optimizer.h"
#include "seeding.h"
#include "step_graphs.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// train.precision, checked against what this machine can do: bf16 is oneDNN's CPU path, and
// without AVX512-BF16 oneDNN would emulate it, slower than float32.
void check_precision(const std::string& precision, const torch::Device& device) {
  if (precision != "bf16") return;
  if (!device.is_cpu()) {
    throw ConfigError("key 'train.precision': bf16 is implemented for the CPU only; on " +
                      device.str() + " use fp32 (or train.device: cpu)");
  }
  if (!kernels::built_with_fast_kernels()) {
    throw ConfigError(
        "key 'train.precision': bf16 needs the fast kernels, and this cyclegan was built without "
        "them (CYCLEGAN_FAST_KERNELS=OFF); use fp32");
  }
  if (!kernels::bf16_available()) {
    throw ConfigError(
        "key 'train.precision': bf16 needs a CPU with AVX512-BF16 or AMX (this one has neither, "
        "or this build lacks oneDNN's API, libdnnl-dev); use fp32");
  }
}

// The training step's kernel policy: the caller's (every fast path unless a benchmark or test
// says otherwise) in the configured precision.
kernels::Policy training_policy(const std::string& precision) {
  kernels::Policy policy = kernels::policy();
  policy.precision =
      precision == "bf16" ? kernels::Precision::kBFloat16 : kernels::Precision::kFloat32;
  return policy;
}

// Whether steps may replay as CUDA graphs: not in data-parallel runs, which average gradients
// between the halves outside any graph, nor with wgangp, whose penalty draws random mixing weights
// and differentiates twice, nor when images keep their own shapes (a graph replays one shape), nor
// with batch norm, whose separate passes and running statistics no GPU test has covered yet.
bool replayable(const TrainConfig& config, const ProcessGroup* group) {
  return config.cuda_graphs && group == nullptr && config.gan_mode != "wgangp" &&
         !config.keeps_image_shapes() && config.norm != "batch";
}

// Whether two batches can share one pass through a network: images of one shape.
bool same_image_shape(const at::Tensor& first, const at::Tensor& second) {
  return first.sizes().slice(1) == second.sizes().slice(1);
}

void set_requires_grad(torch::nn::Module& module, bool requires_grad) {
  for (auto& parameter : module.parameters()) parameter.set_requires_grad(requires_grad);
}

std::vector<at::Tensor> concat_parameters(const torch::nn::Module& first,
                                          const torch::nn::Module& second) {
  std::vector<at::Tensor> parameters = first.parameters();
  for (const auto& parameter : second.parameters()) parameters.push_back(parameter);
  return parameters;
}

// Drops the gradients instead of zeroing them: the next backward pass stores its gradient rather
// than adding it to zeros, and no memory is filled (the U-Nets hold 50 M parameters). Every
// parameter receives a gradient in every step, so Adam, which skips parameters without one,
// updates exactly the parameters it updated before.
void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& parameter : group.params()) parameter.mutable_grad() = at::Tensor();
  }
}

// Every parameter's gradient, created as zeros where a pass gave it none, so that every rank
// averages the same list.
std::vector<at::Tensor> gradients(torch::optim::Optimizer& optimizer) {
  std::vector<at::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) parameter.mutable_grad() = at::zeros_like(parameter);
      grads.push_back(parameter.grad());
    }
  }
  return grads;
}

// Rank 0 keeps the single-process seeds, so that a one-rank run is the plain run; other ranks
// get their own streams (history pool draws, dropout).
uint64_t rank_seed(const TrainConfig& config, const ProcessGroup* group, uint64_t purpose) {
  const auto seed = static_cast<uint64_t>(config.seed);
  if (group == nullptr || group->rank() == 0) return mix_seed({seed, purpose});
  return mix_seed({seed, purpose, static_cast<uint64_t>(group->rank())});
}

// WGAN-GP's mixing weights for one discriminator (`purpose`) at one step: drawn for the whole
// global batch from the seed and the step alone, this rank taking its items' share, so that a
// resumed run and any split over ranks mix the same images with the same weights.
at::Tensor mixing_weights(const TrainConfig& config, int64_t step, uint64_t purpose, int64_t rank,
                          int64_t world_size, int64_t batch) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(
      mix_seed({static_cast<uint64_t>(config.seed), purpose, static_cast<uint64_t>(step)}));
  const at::Tensor global = at::rand({world_size * batch}, generator, at::kFloat);
  return global.narrow(0, rank * batch, batch);
}

// Their exact gradient is zero (see biases_cancelled_by_normalisation()): store that, not the
// rounding noise backpropagation left there.
void zero_gradients(const std::vector<at::Tensor>& parameters) {
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) parameter.grad().zero_();
  }
}

void check_finite(double value, const char* term, int64_t step) {
  if (!std::isfinite(value)) {
    throw TrainingError("step " + std::to_string(step) + ": loss term '" + term + "' is " +
                        std::to_string(value) +
                        "; training stopped before updating weights with it (the last checkpoint "
                        "is kept). Try a lower train.learning_rate.");
  }
}

// The step's loss terms in the order the phases stack them: generator_phase's two parts (G_AB
// applied first, then G_BA), then discriminator_phase's D_A and D_B.
enum Term : int64_t {
  kValidityAB,
  kReconstrAB,
  kIdentityAB,
  kValidityBA,
  kReconstrBA,
  kIdentityBA,
  kDiscriminatorA,
  kDiscriminatorB,
  kTerms
};
constexpr std::array<const char*, kTerms> kTermNames = {"g_validity", "g_reconstr", "g_identity",
                                                        "g_validity", "g_reconstr", "g_identity",
                                                        "d_a",        "d_b"};

// The step's losses from its terms, read in one transfer (on a GPU the step's one wait) and
// checked to be finite before any weight changes.
StepLosses read_losses(const at::Tensor& generator_terms, const at::Tensor& discriminator_terms,
                       int64_t step, const LossWeights& ab, const LossWeights& ba) {
  const at::Tensor values =
      at::cat({generator_terms, discriminator_terms}).to(at::kCPU, at::kDouble).contiguous();
  TORCH_CHECK(values.numel() == kTerms, "a training step has ", kTerms, " loss terms, got ",
              values.numel());
  const double* value = values.data_ptr<double>();
  for (int64_t term = 0; term < kTerms; ++term) check_finite(value[term], kTermNames[term], step);
  StepLosses losses;
  losses.g_validity = value[kValidityAB] + value[kValidityBA];
  losses.g_reconstr = value[kReconstrAB] + value[kReconstrBA];
  losses.g_identity = value[kIdentityAB] + value[kIdentityBA];
  losses.d_a = value[kDiscriminatorA];
  losses.d_b = value[kDiscriminatorB];
  // Each share with its own weights (the caller recomputes it where both weigh alike).
  losses.g_total = ab.validation * value[kValidityAB] + ab.reconstr * value[kReconstrAB] +
                   ab.id * value[kIdentityAB] + ba.validation * value[kValidityBA] +
                   ba.reconstr * value[kReconstrBA] + ba.id * value[kIdentityBA];
  return losses;
}

// A data-parallel run averages each optimizer's gradients over the ranks while the step goes on:
// started as soon as a phase has computed them, finished just before that optimizer's update
// (nothing in between reads the weights). Without a process group, updates straight away.
class GradientAverages {
 public:
  explicit GradientAverages(ProcessGroup* group) : group_(group) {}

  void start(torch::optim::Optimizer& optimizer, const std::string& what) {
    if (group_ != nullptr)
      pending_.emplace_back(&optimizer, group_->start_average(gradients(optimizer), what));
  }

  void finish_and_step(torch::optim::Optimizer& optimizer) {
    for (auto& [owner, finish] : pending_) {
      if (owner == &optimizer && finish) std::exchange(finish, nullptr)();
    }
    optimizer.step();
  }

 private:
  ProcessGroup* group_;
  std::vector<std::pair<torch::optim::Optimizer*, std::function<void()>>> pending_;
};

// Makes `losses` the global batch's (every rank's shard is the same size); returns whether any
// rank was asked to stop.
bool agree_on_losses(ProcessGroup& group, StepLosses& losses, bool stop_requested) {
  const std::vector<double> totals =
      group.sum({losses.g_validity, losses.g_reconstr, losses.g_identity, losses.d_a, losses.d_b,
                 stop_requested ? 1.0 : 0.0, losses.g_total},
                "agreeing on the step's losses");
  const auto ranks = static_cast<double>(group.world_size());
  losses.g_validity = totals[0] / ranks;
  losses.g_reconstr = totals[1] / ranks;
  losses.g_identity = totals[2] / ranks;
  losses.d_a = totals[3] / ranks;
  losses.d_b = totals[4] / ranks;
  losses.g_total = totals[6] / ranks;
  return totals[5] > 0;
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, std::shared_ptr<ProcessGroup> group)
    : config_(config),
      group_(std::move(group)),
      device_(resolve_device(config.device)),
      pool_a_(config.pool_size, rank_seed(config, group_.get(), 0x9A)),
      pool_b_(config.pool_size, rank_seed(config, group_.get(), 0x9B)),
      graphs_(std::make_unique<StepGraphs>(device_, replayable(config, group_.get()), phases())) {
  validate(config_);
  check_precision(config_.precision, device_);
  // The rate applies to the global batch; `linear` scales it with the world size (Goyal et al.).
  ScheduleOptions schedule;
  schedule.policy = config_.lr_policy;
  schedule.base_rate = config_.learning_rate *
                       (config_.lr_scaling == "linear" ? static_cast<double>(world_size()) : 1.0);
  schedule.constant_epochs = config_.epochs;
  schedule.decay_epochs = config_.decay_epochs;
  schedule.step_epochs = config_.lr_step_epochs;
  schedule_ = LearningRateSchedule(schedule);
  // As the official implementation (cudnn.benchmark = True): cuDNN times its algorithms for each
  // new layer shape once, then uses the fastest; a run's shapes never change.
  if (device_.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  // Each generator's share: G_AB's holds the A cycle (A -> B -> A) and the identity on B images,
  // which scales with B's cycle weight as the official idt_A = lambda_B x lambda_identity does;
  // G_BA's likewise. With one cycle weight both shares weigh alike.
  const double cycle_a = config_.cycle_weight_a();
  const double cycle_b = config_.cycle_weight_b();
  const bool one_cycle_weight = cycle_a == cycle_b;
  const GanMode gan_mode = gan_mode_from_name(config_.gan_mode);
  weights_ab_ = {
      config_.lambda_validation, cycle_a,
      one_cycle_weight ? config_.lambda_id : config_.lambda_id * cycle_b / config_.lambda_reconstr,
      gan_mode};
  weights_ba_ = {
      config_.lambda_validation, cycle_b,
      one_cycle_weight ? config_.lambda_id : config_.lambda_id * cycle_a / config_.lambda_reconstr,
      gan_mode};
  torch::manual_seed(static_cast<uint64_t>(config_.seed));
  // G_AB takes domain A's channels to domain B's; D_A judges A images, D_B B images.
  const auto generator_options = GeneratorOptions()
                                     .architecture(canonical_generator_name(config_.generator_type))
                                     .in_channels(config_.channels_a())
                                     .out_channels(config_.channels_b())
                                     .ngf(config_.gen_n_filters)
                                     .dropout(config_.dropout)
                                     .norm(config_.norm)
                                     .input_skip(config_.generators_skip_input());
  const auto discriminator_options =
      PatchDiscriminatorOptions()
          .architecture(config_.disc_type == "pixel" ? "pixel" : "n_layers")
          .in_channels(config_.channels_a())
          .ndf(config_.disc_n_filters)
          .n_layers(config_.disc_n_layers)
          .norm(config_.norm);
  g_ab_ = make_generator(generator_options);
  g_ba_ = make_generator(GeneratorOptions(generator_options)
                             .in_channels(config_.channels_b())
                             .out_channels(config_.channels_a()));
  d_a_ = PatchDiscriminator(discriminator_options);
  d_b_ = PatchDiscriminator(
      PatchDiscriminatorOptions(discriminator_options).in_channels(config_.channels_b()));
  // The layers start from the CycleGAN init (N(0, 0.02) weights, zero biases; networks.h), or
  // are drawn again for another model.init_type / init_gain.
  const bool other_init = config_.init_type != "normal" || config_.init_gain != 0.02;
  for (torch::nn::Module* network : std::initializer_list<torch::nn::Module*>{
           g_ab_.get(), g_ba_.get(), d_a_.get(), d_b_.get()}) {
    if (other_init) init_weights(*network, config_.init_gain, config_.init_type);
    if (other_init && config_.generators_skip_input()) {
      if (auto* generator = dynamic_cast<GeneratorModule*>(network)) generator->zero_output_layer();
    }
    network->to(device_);
    network->train();
  }
  const auto adam = torch::optim::AdamOptions(config_.learning_rate)
                        .betas(std::make_tuple(config_.beta1, config_.beta2));
  for (const torch::nn::Module* network : {g_ab_.get(), g_ba_.get()}) {
    for (const auto& bias : biases_cancelled_by_normalisation(*network))
      cancelled_biases_g_.push_back(bias);
  }
  for (const torch::nn::Module* network :
       {static_cast<torch::nn::Module*>(d_a_.get()), static_cast<torch::nn::Module*>(d_b_.get())}) {
    for (const auto& bias : biases_cancelled_by_normalisation(*network))
      cancelled_biases_d_.push_back(bias);
  }
  optimizer_g_ = std::make_unique<FusedAdam>(concat_parameters(*g_ab_, *g_ba_), adam);
  optimizer_d_ = std::make_unique<FusedAdam>(concat_parameters(*d_a_, *d_b_), adam);
  if (group_) {
    // Every rank seeded alike, but rank 0's weights are the run's by definition.
    std::vector<at::Tensor> state;
    for (torch::nn::Module* network : std::initializer_list<torch::nn::Module*>{
             g_ab_.get(), g_ba_.get(), d_a_.get(), d_b_.get()}) {
      for (const auto& parameter : network->parameters()) state.push_back(parameter);
      for (const auto& buffer : network->buffers()) state.push_back(buffer);
    }
    group_->broadcast_from_rank0(state, "copying rank 0's initial weights");
    if (config_.norm == "batch") {
      // Each pass normalises by the global batch, as one rank holding all of it would.
      ProcessGroup* group = group_.get();
      const RankSum sum = [group](const std::vector<double>& values) {
        return group->sum(values, "summing batch-norm statistics over the ranks");
      };
      for (torch::nn::Module* network : std::initializer_list<torch::nn::Module*>{
               g_ab_.get(), g_ba_.get(), d_a_.get(), d_b_.get()})
        share_batch_statistics(*network, sum);
    }
    if (group_->rank() > 0) torch::manual_seed(rank_seed(config_, group_.get(), 0xD0));
  }
}

int64_t Trainer::rank() const { return group_ ? group_->rank() : 0; }
int64_t Trainer::world_size() const { return group_ ? group_->world_size() : 1; }

void Trainer::set_learning_rate(double rate) {
  for (auto* optimizer : {optimizer_g_.get(), optimizer_d_.get()}) {
    for (auto& group : optimizer->param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(rate);
    }
  }
}

void Trainer::set_cuda_graphs(bool enabled) {
  config_.cuda_graphs = enabled;
  graphs_->set_enabled(replayable(config_, group_.get()));
}

bool Trainer::replaying_cuda_graphs() const { return graphs_->replaying(); }

StepPhases Trainer::phases() {
  return {[this](const at::Tensor& real_a, const at::Tensor& real_b, at::Tensor* fake_a,
                 at::Tensor* fake_b) { return generator_phase(real_a, real_b, fake_a, fake_b); },
          [this](const at::Tensor& fake_a) { return pool_a_.query(fake_a); },
          [this](const at::Tensor& fake_b) { return pool_b_.query(fake_b); },
          [this](const at::Tensor& real_a, const at::Tensor& real_b,
                 const at::Tensor& pooled_fake_a, const at::Tensor& pooled_fake_b) {
            return discriminator_phase(real_a, real_b, pooled_fake_a, pooled_fake_b);
          }};
}

StepLosses Trainer::step(const at::Tensor& real_a, const at::Tensor& real_b) {
  return step_and_agree(real_a, real_b, false, nullptr);
}

Trainer::~Trainer() = default;

at::Tensor Trainer::generator_phase(const at::Tensor& real_a, const at::Tensor& real_b,
                                    at::Tensor* fake_a, at::Tensor* fake_b) {
  // Generators, with the discriminators frozen: their gradients flow to the fakes only. The
  // objective is a sum of two parts that share no activations, one per generator applied first:
  // G_AB takes A images to fakes (judged by D_B, cycled back by G_BA) and, in the same batch, B
  // images to themselves (identity); G_BA likewise. Each part is backpropagated as soon as it is
  // computed, so only half the activations of one graph for the whole sum are alive at a time,
  // and batching the identity pass with the translation saves the per-pass cost of the weights
  // (large for the U-Nets, whose inner layers are 1-4 pixels wide). The gradients add up to the
  // whole sum's.
  //
  // Batch norm makes every pass's statistics depend on what it holds: then each image batch has
  // its own pass, and the identity passes come last, so that each network sees its inputs in the
  // official order (G_AB: a, G_AB(G_BA(b)), b; G_BA: G_AB(a), b, a) and its running statistics
  // follow the official trainer's.
  set_requires_grad(*d_a_, false);
  set_requires_grad(*d_b_, false);
  clear_gradients(*optimizer_g_);
  const bool batch_statistics = config_.norm == "batch";
  std::vector<at::Tensor> terms;
  auto generator_part = [&](const at::Tensor& real, const at::Tensor& other_real,
                            GeneratorModule& first, GeneratorModule& back,
                            PatchDiscriminatorImpl& judge, LossWeights weights) {
    const int64_t n = real.size(0);
    if (batch_statistics) weights.id = 0;  // its own part, below
    const bool with_identity = weights.id > 0;
    // [first(real); first(other_real)]: the fakes, and the other domain's images left unchanged
    // (in two passes when the domains' images differ in shape).
    const bool batched = with_identity && same_image_shape(real, other_real);
    const at::Tensor outputs = first.forward(batched ? at::cat({real, other_real}) : real);
    const at::Tensor fake = outputs.narrow(0, 0, n);
    const at::Tensor judged = judge.forward(fake);
    const at::Tensor reconstructed = back.forward(fake);
    at::Tensor identity;
    if (with_identity) {
      identity = batched ? outputs.narrow(0, n, other_real.size(0)) : first.forward(other_real);
    }
    const GeneratorTerms part =
        generator_terms(judged, reconstructed, real, identity, other_real, weights);
    terms.push_back(part.validity);
    terms.push_back(part.reconstr);
    terms.push_back(with_identity ? part.identity : at::zeros({}, part.validity.options()));
    part.weighted.backward();
    return fake.detach();
  };
  *fake_b = generator_part(real_a, real_b, *g_ab_, *g_ba_, *d_b_, weights_ab_);
  *fake_a = generator_part(real_b, real_a, *g_ba_, *g_ab_, *d_a_, weights_ba_);
  if (batch_statistics && weights_ab_.id > 0) {
    const at::Tensor identity_b = mean_absolute_error(g_ab_->forward(real_b), real_b);
    const at::Tensor identity_a = mean_absolute_error(g_ba_->forward(real_a), real_a);
    terms[2] = identity_b;
    terms[5] = identity_a;
    (weights_ab_.id * identity_b + weights_ba_.id * identity_a).backward();
  }
  zero_gradients(cancelled_biases_g_);
  return at::stack(terms);
}

at::Tensor Trainer::discriminator_phase(const at::Tensor& real_a, const at::Tensor& real_b,
                                        const at::Tensor& pooled_fake_a,
                                        const at::Tensor& pooled_fake_b) {
  // Discriminators: real judged real (1 for lsgan), a fake from the history pool judged fake (0),
  // real and fake in one batch. The fakes are the ones the generators' half computed, detached,
  // so no generator pass is repeated.
  set_requires_grad(*d_a_, true);
  set_requires_grad(*d_b_, true);
  clear_gradients(*optimizer_d_);
  auto discriminator_part = [&](PatchDiscriminatorImpl& discriminator, const at::Tensor& real,
                                const at::Tensor& pooled_fake, uint64_t purpose) {
    // One pass unless a pooled fake has another shape than the real images (uncropped modes), or
    // batch norm would mix their statistics (official order then: real, then fake).
    at::Tensor real_scores;
    at::Tensor fake_scores;
    if (same_image_shape(real, pooled_fake) && config_.norm != "batch") {
      const at::Tensor scores = discriminator.forward(at::cat({real, pooled_fake}));
      real_scores = scores.narrow(0, 0, real.size(0));
      fake_scores = scores.narrow(0, real.size(0), pooled_fake.size(0));
    } else {
      real_scores = discriminator.forward(real);
      fake_scores = discriminator.forward(pooled_fake);
    }
    at::Tensor penalty;
    if (weights_ab_.gan_mode == GanMode::kWgangp && config_.lambda_gp > 0) {
      const at::Tensor alpha =
          mixing_weights(config_, steps_done_ + 1, purpose, rank(), world_size(), real.size(0));
      penalty = gradient_penalty([&](const at::Tensor& x) { return discriminator.forward(x); },
                                 real, pooled_fake, alpha, config_.lambda_gp);
    }
    return discriminator_loss(real_scores, fake_scores, weights_ab_.gan_mode, penalty);
  };
  const at::Tensor loss_d_a = discriminator_part(*d_a_, real_a, pooled_fake_a, 0x6A);
  const at::Tensor loss_d_b = discriminator_part(*d_b_, real_b, pooled_fake_b, 0x6B);
  (loss_d_a + loss_d_b).backward();
  zero_gradients(cancelled_biases_d_);
  return at::stack({loss_d_a, loss_d_b});
}

StepLosses Trainer::step_and_agree(const at::Tensor& real_a_in, const at::Tensor& real_b_in,
                                   bool stop_requested, bool* stop_agreed) {
  const kernels::PolicyGuard kernel_policy(training_policy(config_.precision));
  GradientAverages averages(group_.get());
  StepTerms terms;
  if (!graphs_->run(real_a_in, real_b_in, steps_done_ + 1, &terms)) {
    const at::Tensor real_a = real_a_in.to(device_);  // [N, C, H, W]
    const at::Tensor real_b = real_b_in.to(device_);
    at::Tensor fake_a;
    at::Tensor fake_b;
    // The generators learn with the discriminators frozen...
    terms.generators = generator_phase(real_a, real_b, &fake_a, &fake_b);
    averages.start(*optimizer_g_, "averaging the generators' gradients");
    // ...then the discriminators, on the real images and fakes from the history pools.
    terms.discriminators =
        discriminator_phase(real_a, real_b, pool_a_.query(fake_a), pool_b_.query(fake_b));
    averages.start(*optimizer_d_, "averaging the discriminators' gradients");
  }
  StepLosses losses = read_losses(terms.generators, terms.discriminators, steps_done_ + 1,
                                  weights_ab_, weights_ba_);
  averages.finish_and_step(*optimizer_g_);
  averages.finish_and_step(*optimizer_d_);
  if (group_) stop_requested = agree_on_losses(*group_, losses, stop_requested);
  if (weights_ab_.reconstr == weights_ba_.reconstr) {
    // One weight per term: the total of the agreed terms (as before per-direction weights).
    losses.g_total = weights_ab_.validation * losses.g_validity +
                     weights_ab_.reconstr * losses.g_reconstr + weights_ab_.id * losses.g_identity;
  }
  if (stop_agreed != nullptr) *stop_agreed = stop_requested;
  ++steps_done_;
  return losses;
}

std::vector<std::vector<at::Tensor>> Trainer::sample_rows(const at::Tensor& real_a_in,
                                                          const at::Tensor& real_b_in) {
  torch::NoGradGuard no_grad;
  const at::Tensor real_a = real_a_in.to(device_);
  const at::Tensor real_b = real_b_in.to(device_);
  g_ab_->eval();
  g_ba_->eval();
  const at::Tensor fake_b = g_ab_->forward(real_a);
  const at::Tensor fake_a = g_ba_->forward(real_b);
  std::vector<std::vector<at::Tensor>> rows = {{real_a, fake_b, g_ba_->forward(fake_b)},
                                               {real_b, fake_a, g_ab_->forward(fake_a)}};
  // Identity needs each generator to take its own output's domain: not when channels differ.
  if (config_.channels_a() == config_.channels_b()) {
    rows[0].push_back(g_ba_->forward(real_a));
    rows[1].push_back(g_ab_->forward(real_b));
  }
  g_ab_->train();
  g_ba_->train();
  return rows;
}

std::vector<DirectionMetrics> Trainer::measure_quality() {
  g_ab_->eval();
  g_ba_->eval();
  auto measured = [&](GeneratorModule& generator, int64_t in_channels, int64_t out_channels) {
    return MeasuredGenerator{&generator, in_channels, out_channels,
                             generator_size_multiple(config_.generator_type)};
  };
  MeasureOptions options;
  options.data_root = config_.data_root;
  options.swap_domains = config_.direction == "BtoA";
  options.num_test = config_.eval_images;
  std::vector<DirectionMetrics> directions =
      measure_directions(measured(*g_ab_, config_.channels_a(), config_.channels_b()),
                         measured(*g_ba_, config_.channels_b(), config_.channels_a()), options);
  g_ab_->train();
  g_ba_->train();
  return directions;
}

std::vector<fs::path> Trainer::save_networks(const fs::path& dir) const {
  NetworkInfo generator;
  generator.kind = "generator";
  generator.architecture = canonical_generator_name(config_.generator_type);
  generator.in_channels = config_.channels_a();
  generator.out_channels = config_.channels_b();
  generator.filters = config_.gen_n_filters;
  generator.dropout = config_.dropout;
  generator.norm = config_.norm;
  generator.input_skip = config_.generators_skip_input();
  generator.image_size = config_.input_dim;
  generator.step = steps_done_;
  NetworkInfo discriminator = generator;
  discriminator.kind = "discriminator";
  discriminator.architecture = config_.disc_type == "pixel" ? "pixelgan" : "patchgan";
  discriminator.out_channels = 1;
  discriminator.filters = config_.disc_n_filters;
  discriminator.n_layers = config_.disc_n_layers;
  discriminator.dropout = false;

  std::vector<fs::path> written;
  auto save = [&](const char* name, const torch::nn::Module& module, NetworkInfo info,
                  const char* direction) {
    info.direction = direction;
    save_network(dir / name, module, info);
    written.push_back(dir / name);
  };
  NetworkInfo generator_ba = generator;
  std::swap(generator_ba.in_channels, generator_ba.out_channels);
  NetworkInfo discriminator_b = discriminator;
  discriminator_b.in_channels = config_.channels_b();
  save("g_AB.pt", *g_ab_, generator, "AB");
  save("g_BA.pt", *g_ba_, generator_ba, "BA");
  save("d_A.pt", *d_a_, discriminator, "A");
  save("d_B.pt", *d_b_, discriminator_b, "B");
  return written;
}

TrainingState Trainer::training_state() const {
  // Saving only reads through these pointers; loading goes through the non-const load_state().
  auto* self = const_cast<Trainer*>(this);
  return {{{"g_ab", self->g_ab_.get()},
           {"g_ba", self->g_ba_.get()},
           {"d_a", self->d_a_.get()},
           {"d_b", self->d_b_.get()}},
          {{"optimizer_g", self->optimizer_g_.get()}, {"optimizer_d", self->optimizer_d_.get()}},
          &self->pool_a_,
          &self->pool_b_,
          &self->schedule_,
          &self->steps_done_};
}

std::string Trainer::rank_state_bytes() const {
  return cyclegan::rank_state_bytes(training_state());
}

void Trainer::save_state(const fs::path& path,
                         const std::vector<std::string>& other_rank_states) const {
  save_training_state(path, training_state(), other_rank_states);
}

void Trainer::load_state(const fs::path& path) {
  graphs_->reset();  // loading replaces the parameters' storage, which the graphs have recorded
  const int64_t written_by = load_training_state(path, training_state(), rank(), device_);
  if (rank() == 0 && written_by != world_size()) {
    const std::string ranks = std::to_string(written_by);
    console::warn(path.string() + " was written by " + ranks + " rank(s), resuming with " +
                  std::to_string(world_size()) +
                  ": weights, optimizer moments and the step count continue exactly; ranks "
                  "beyond " +
                  ranks +
                  " start with empty history pools, and data order and epoch boundaries follow "
                  "the new global batch");
  }
}

void Trainer::lock_run_directory() {
  if (!run_directory_lock_)
    run_directory_lock_ = std::make_unique<DirectoryLock>(config_.output_dir);
}

fs::path Trainer::resume(const fs::path& checkpoint) {
  const fs::path run_dir = config_.output_dir;
  if (rank() > 0) {
    // Rank 0 picks the checkpoint; every other rank loads the same file, which must therefore
    // be visible to all of them at the same path.
    const auto step = static_cast<int64_t>(
        group_->sum({0.0}, "learning which checkpoint rank 0 resumes from")[0]);
    const fs::path chosen = checkpoint.empty() ? checkpoint_path(run_dir, step) : checkpoint;
    std::string failure;
    try {
      load_state(chosen);
    } catch (const CheckpointError& e) {
      failure = e.what();
    }
    group_->sum({failure.empty() ? 0.0 : 1.0}, "checking that every rank loaded the checkpoint");
    if (!failure.empty()) {
      throw CheckpointError("rank " + std::to_string(rank()) + ": " + failure +
                            " (every rank must see the run directory at the same path)");
    }
    verify_replicas_agree("after resuming");
    return chosen;
  }
  lock_run_directory();
  std::vector<fs::path> candidates =
      checkpoint.empty() ? list_checkpoints(run_dir) : std::vector<fs::path>{checkpoint};
  if (candidates.empty()) {
    throw CheckpointError((run_dir / "checkpoints").string() +
                          ": no checkpoint to resume from (the run stopped before writing one); "
                          "start it again with --config");
  }
  std::string failures;
  for (const fs::path& candidate : candidates) {
    try {
      load_state(candidate);
    } catch (const CheckpointError& e) {
      if (!checkpoint.empty()) throw;
      console::warn(std::string(e.what()) + "; trying the previous checkpoint");
      failures += std::string("\n  ") + e.what();
      continue;
    }
    if (group_) {
      group_->sum({static_cast<double>(steps_done_)}, "telling the ranks which checkpoint to load");
      const double failed = group_->sum({0.0}, "checking that every rank loaded the checkpoint")[0];
      if (failed > 0) {
        throw CheckpointError(candidate.string() + ": " + std::to_string(static_cast<int>(failed)) +
                              " other rank(s) could not load it (each says why); every rank must "
                              "see the run directory at the same path");
      }
      verify_replicas_agree("after resuming");
    }
    // A kill between the state file and the network files leaves those one checkpoint behind.
    save_networks(run_dir);
    const int64_t dropped = LossLog::truncate_after(run_dir / "losses.csv", steps_done_);
    truncate_csv_after(run_dir / "quality.csv", QualityLog::header(), steps_done_);
    console::info(
        "resuming from " + candidate.string() + " (step " + std::to_string(steps_done_) + ")" +
        (dropped > 0 ? "; dropped " + std::to_string(dropped) + " losses.csv rows written after it"
                     : std::string()));
    return candidate;
  }
  throw CheckpointError(run_dir.string() + ": no checkpoint could be loaded:" + failures);
}

void Trainer::verify_replicas_agree(const std::string& when) {
  if (!group_) return;
  torch::NoGradGuard no_grad;
  const std::vector<std::pair<const char*, torch::nn::Module*>> networks = {
      {"g_AB", g_ab_.get()}, {"g_BA", g_ba_.get()}, {"d_A", d_a_.get()}, {"d_B", d_b_.get()}};
  // Per network: the sum and the sum of squares of its weights, in double. Ranks that applied
  // the same updates to the same weights agree bit for bit.
  std::vector<double> checksums;
  for (const auto& [name, network] : networks) {
    double sum = 0;
    double squares = 0;
    for (const auto& parameter : network->parameters()) {
      const at::Tensor values = parameter.to(torch::kFloat64);
      sum += values.sum().item<double>();
      squares += values.square().sum().item<double>();
    }
    checksums.push_back(sum);
    checksums.push_back(squares);
  }
  const auto all = group_->all_gather(checksums, "comparing weight checksums " + when);
  for (size_t r = 1; r < all.size(); ++r) {
    for (size_t n = 0; n < networks.size(); ++n) {
      if (all[r][2 * n] == all[0][2 * n] && all[r][2 * n + 1] == all[0][2 * n + 1]) continue;
      std::ostringstream message;
      message.precision(17);  // every digit: the sums differ in the last ones
      message << "rank " << rank() << ": the ranks' weights differ " << when << ": rank " << r
              << "'s " << networks[n].first << " has checksum " << all[r][2 * n] << " / "
              << all[r][2 * n + 1] << ", rank 0's " << all[0][2 * n] << " / " << all[0][2 * n + 1]
              << ". Data-parallel ranks must hold identical weights; the run stops (checkpoints "
                 "already written are complete)";
      throw DistributedError(message.str());
    }
  }
}

}  // namespace cyclegan
