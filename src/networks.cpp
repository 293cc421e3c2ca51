#include "cyclegan/networks.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <variant>

#include "cyclegan/errors.h"
#include "kernels/kernels.h"

namespace cyclegan {

namespace nn = torch::nn;

namespace {

// N(0, std) in blocks of 2^16 values, each drawn by its own generator seeded with one 64-bit draw
// of the default generator and the block's index: the same weights for a seed whatever the thread
// count, with every core drawing. LibTorch's normal_ draws serially, 0.6 s of the 1.4 s unet_128's
// four networks took to set up.
void fill_normal(const at::Tensor& parameter, double std) {
  uint64_t seed = 0;
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    const std::lock_guard<std::mutex> lock(generator.mutex());
    seed = at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
  }
  // Detached: the worker threads do not inherit the caller's no-grad mode.
  const at::Tensor values = parameter.detach().view({-1});
  constexpr int64_t kBlock = int64_t{1} << 16;
  const int64_t blocks = (values.numel() + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      auto generator = at::make_generator<at::CPUGeneratorImpl>(
          seed + static_cast<uint64_t>(block) * 0x9E3779B97F4A7C15ULL);
      values.slice(0, block * kBlock, std::min(values.numel(), (block + 1) * kBlock))
          .normal_(0.0, std, generator);
    }
  });
}

constexpr double kInitStd = 0.02;

// LibTorch's conv constructors fill their weights with kaiming_uniform_ draws, serially from the
// default generator (0.11 s of resnet_9blocks' four networks, 7 % of its start-up), which the
// CycleGAN init then overwrites. So our layers are built at one channel in and out and take
// their real shape here, drawn straight from that init: N(0, 0.02) weights, zero biases.
template <typename Layer>
void take_channels(Layer& layer, int64_t in_channels, int64_t out_channels) {
  TORCH_CHECK(layer.options.groups() == 1, "take_channels: grouped convolutions are not built");
  torch::NoGradGuard no_grad;
  layer.options.in_channels(in_channels).out_channels(out_channels);
  std::vector<int64_t> shape = layer.weight.sizes().vec();
  shape[0] = layer.options.transposed() ? in_channels : out_channels;
  shape[1] = layer.options.transposed() ? out_channels : in_channels;
  layer.weight.set_(at::empty(shape));
  fill_normal(layer.weight, kInitStd);
  if (layer.bias.defined()) layer.bias.set_(at::zeros({out_channels}));
}

// nn::Conv2d (same parameters, names and printout; square kernel, the same stride and padding on
// both axes) computed through the kernel seam, which picks a kernel by shape where the run's
// policy allows.
class ConvImpl : public nn::Conv2dImpl {
 public:
  ConvImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
           int64_t padding, bool bias)
      : Conv2dImpl(nn::Conv2dOptions(1, 1, kernel).stride(stride).padding(padding).bias(bias)),
        stride_(stride),
        padding_(padding) {
    take_channels(*this, in_channels, out_channels);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return kernels::conv2d(x, weight, bias, stride_, padding_);
  }

 private:
  int64_t stride_;
  int64_t padding_;
};
TORCH_MODULE(Conv);

// nn::ConvTranspose2d (same parameters, names and printout) computed through the kernel seam.
class ConvTransposeImpl : public nn::ConvTranspose2dImpl {
 public:
  ConvTransposeImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                    int64_t padding, int64_t output_padding, bool bias)
      : ConvTranspose2dImpl(nn::ConvTranspose2dOptions(1, 1, kernel)
                                .stride(stride)
                                .padding(padding)
                                .output_padding(output_padding)
                                .bias(bias)),
        stride_(stride),
        padding_(padding),
        output_padding_(output_padding) {
    take_channels(*this, in_channels, out_channels);
  }
  // The base class's signature, whose default argument Sequential relies on.
  torch::Tensor forward(const torch::Tensor& x,
                        const c10::optional<at::IntArrayRef>& output_size = c10::nullopt) {
    if (output_size) return ConvTranspose2dImpl::forward(x, output_size);
    return kernels::conv_transpose2d(x, weight, bias, stride_, padding_, output_padding_);
  }

 private:
  int64_t stride_;
  int64_t padding_;
  int64_t output_padding_;
};
TORCH_MODULE(ConvTranspose);

Conv conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
          bool bias = true) {
  return Conv(in, out, kernel, stride, padding, bias);
}

ConvTranspose conv_transpose(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             int64_t padding, int64_t output_padding, bool bias = true) {
  return ConvTranspose(in, out, kernel, stride, padding, output_padding, bias);
}

// Sums its input over the ranks; the gradient of a sum over ranks is the sum of the ranks'
// gradients, so the backward pass sums too.
struct SumOverRanks : public torch::CustomClassHolder {
  explicit SumOverRanks(RankSum sum) : sum(std::move(sum)) {}
  RankSum sum;

  at::Tensor apply(const at::Tensor& values) const {
    const at::Tensor local = values.to(at::kCPU, at::kDouble).contiguous();
    const std::vector<double> summed = sum(
        std::vector<double>(local.data_ptr<double>(), local.data_ptr<double>() + local.numel()));
    return at::tensor(summed, at::TensorOptions().dtype(at::kDouble)).to(values.device());
  }
};

class SumOverRanksFunction : public torch::autograd::Function<SumOverRanksFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& values,
                            c10::intrusive_ptr<SumOverRanks> sum) {
    context->saved_data["sum"] = c10::IValue::make_capsule(sum);
    return sum->apply(values);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto sum = context->saved_data["sum"].toCapsule();
    return {static_cast<SumOverRanks*>(sum.get())->apply(gradients[0]), at::Tensor()};
  }
};

// BatchNorm2d as torch.nn.BatchNorm2d(channels) (affine, running statistics, momentum 0.1, eps
// 1e-5; the same parameter and buffer names), which can also normalise by the statistics of all
// ranks' images: share_batch_statistics().
class BatchNormImpl : public nn::Module {
 public:
  explicit BatchNormImpl(int64_t channels)
      : weight(register_parameter("weight", at::ones({channels}))),
        bias(register_parameter("bias", at::zeros({channels}))),
        running_mean(register_buffer("running_mean", at::zeros({channels}))),
        running_var(register_buffer("running_var", at::ones({channels}))),
        num_batches_tracked(register_buffer("num_batches_tracked", at::zeros({}, at::kLong))) {}

  void set_rank_sum(RankSum sum) {
    rank_sum_ = sum ? c10::make_intrusive<SumOverRanks>(std::move(sum))
                    : c10::intrusive_ptr<SumOverRanks>();
  }

  torch::Tensor forward(const torch::Tensor& x) {
    if (is_training()) {
      torch::NoGradGuard no_grad;
      num_batches_tracked.add_(1);
    }
    if (!rank_sum_ || !is_training()) {
      return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), kMomentum,
                               kEps, at::globalContext().userEnabledCuDNN());
    }
    // Per-channel sums of x and x^2 in double (E[x^2] - E[x]^2 cancels), over all ranks.
    const at::Tensor wide = x.to(at::kDouble);
    const int64_t channels = x.size(1);
    const at::Tensor local =
        at::cat({wide.sum({0, 2, 3}), wide.square().sum({0, 2, 3}),
                 at::full({1}, static_cast<double>(x.numel() / channels), wide.options())});
    const at::Tensor global = SumOverRanksFunction::apply(local, rank_sum_);
    const double count = global[2 * channels].item<double>();
    const at::Tensor mean = global.narrow(0, 0, channels) / count;
    const at::Tensor var = global.narrow(0, channels, channels) / count - mean.square();
    {
      torch::NoGradGuard no_grad;  // as batch_norm: the unbiased variance in the running one
      running_mean.mul_(1 - kMomentum).add_(mean.to(running_mean.dtype()), kMomentum);
      running_var.mul_(1 - kMomentum)
          .add_((var * (count / (count - 1))).to(running_var.dtype()), kMomentum);
    }
    const at::Tensor scale = (var + kEps).rsqrt().to(x.scalar_type()).view({1, -1, 1, 1});
    return (x - mean.to(x.scalar_type()).view({1, -1, 1, 1})) * scale * weight.view({1, -1, 1, 1}) +
           bias.view({1, -1, 1, 1});
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "BatchNorm2d(" << weight.size(0) << ", eps=" << kEps << ", momentum=" << kMomentum
           << ", affine=true, track_running_stats=true)";
  }

  at::Tensor weight;
  at::Tensor bias;
  at::Tensor running_mean;
  at::Tensor running_var;
  at::Tensor num_batches_tracked;

 private:
  static constexpr double kMomentum = 0.1;
  static constexpr double kEps = 1e-5;
  c10::intrusive_ptr<SumOverRanks> rank_sum_;
};
TORCH_MODULE(BatchNorm);

// The official use_bias: a convolution feeding a norm layer has a bias only with instance norm
// (a BatchNorm's shift replaces it; with no norm the official code leaves it out as well).
bool conv_bias_before(const std::string& norm) { return norm == "instance"; }

// The official get_norm_layer(norm)(channels). BatchNorm2d: affine, running statistics, momentum
// 0.1, eps 1e-5, its scale drawn N(1, 0.02) as the official init_weights draws it.
nn::AnyModule norm_layer(const std::string& norm, int64_t channels) {
  if (norm == "instance") return nn::AnyModule(InstanceNorm());
  if (norm == "batch") {
    BatchNorm layer(channels);
    torch::NoGradGuard no_grad;
    fill_normal(layer->weight, kInitStd);
    layer->weight.add_(1.0);
    return nn::AnyModule(layer);
  }
  if (norm == "none") return nn::AnyModule(nn::Identity());
  throw ConfigError("unknown norm '" + norm + "' (expected instance, batch or none)");
}

nn::LeakyReLU leaky_relu(bool inplace) {
  return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(inplace));
}

nn::ReLU relu() { return nn::ReLU(nn::ReLUOptions().inplace(true)); }

// nn::ReflectionPad2d (same options and printout), the same padding on all sides, through the
// kernel seam.
class ReflectionPadImpl : public nn::ReflectionPad2dImpl {
 public:
  explicit ReflectionPadImpl(int64_t padding)
      : ReflectionPad2dImpl(nn::ReflectionPad2dOptions(padding)), padding_(padding) {}
  torch::Tensor forward(const torch::Tensor& x) { return kernels::reflection_pad(x, padding_); }

 private:
  int64_t padding_;
};
TORCH_MODULE(ReflectionPad);

ReflectionPad reflection_pad(int64_t padding) { return ReflectionPad(padding); }

nn::Upsample upsample_nearest_2x() {
  return nn::Upsample(
      nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
}

// Keras 'same' padding for a 4x4 stride-1 conv pads 1 before and 2 after (book, Example 5-2).
nn::ZeroPad2d keras_same_pad_4x4() { return nn::ZeroPad2d(nn::ZeroPad2dOptions({1, 2, 1, 2})); }

void check_positive(const char* what, int64_t value) {
  TORCH_CHECK(value > 0, what, " must be > 0, got ", value);
}

}  // namespace

std::string canonical_generator_name(const std::string& name) {
  if (name == "u-net" || name == "unet_book") return "unet";
  if (name == "resnet") return "resnet_9blocks";
  return name;
}

int64_t generator_size_multiple(const std::string& architecture) {
  const std::string name = canonical_generator_name(architecture);
  if (name == "unet") return 16;
  if (name == "unet_128") return 128;
  if (name == "unet_256") return 256;
  if (name == "resnet_6blocks" || name == "resnet_9blocks") return 4;
  throw ConfigError("unknown generator architecture '" + architecture + "'");
}

torch::Tensor InstanceNormImpl::forward(const torch::Tensor& x) {
  if (statistics_ && statistics_->mode != NormStatistics::Mode::kOff) {
    if (statistics_->mode == NormStatistics::Mode::kRecord) {
      auto [var, mean] = torch::var_mean(x, {2, 3}, /*unbiased=*/false, /*keepdim=*/true);
      statistics_->mean_var.emplace_back(mean, var);
      return (x - mean) / torch::sqrt(var + eps_);
    }
    TORCH_CHECK(statistics_->cursor < statistics_->mean_var.size(),
                "InstanceNorm: replaying more layers than were recorded");
    const auto& [mean, var] = statistics_->mean_var[statistics_->cursor++];
    return (x - mean) / torch::sqrt(var + eps_);
  }
  // use_input_stats = true: statistics of this sample and channel, in training and inference.
  return kernels::instance_norm(x, eps_);
}

torch::Tensor InstanceNormImpl::forward_activated(const torch::Tensor& x, double negative_slope) {
  if (statistics_ && statistics_->mode != NormStatistics::Mode::kOff) {
    torch::Tensor normalised = forward(x);
    return negative_slope == 0.0 ? torch::relu_(normalised)
                                 : torch::leaky_relu_(normalised, negative_slope);
  }
  return kernels::instance_norm_activation(x, eps_, negative_slope);
}

torch::Tensor forward_sequence(nn::SequentialImpl& sequence, torch::Tensor x, size_t first,
                               size_t end) {
  end = std::min(end, sequence.size());
  for (size_t i = first; i < end; ++i) {
    auto* norm = dynamic_cast<InstanceNormImpl*>(sequence.ptr(i).get());
    if (norm != nullptr && i + 1 < end) {
      const auto* next = sequence.ptr(i + 1).get();
      const auto* leaky = dynamic_cast<const nn::LeakyReLUImpl*>(next);
      if (leaky != nullptr || dynamic_cast<const nn::ReLUImpl*>(next) != nullptr) {
        x = norm->forward_activated(x, leaky != nullptr ? leaky->options.negative_slope() : 0.0);
        ++i;  // the activation ran inside the norm
        continue;
      }
    }
    x = (sequence.begin() + static_cast<std::ptrdiff_t>(i))->forward(x);
  }
  return x;
}

void InstanceNormImpl::pretty_print(std::ostream& stream) const {
  stream << "InstanceNorm(eps=" << eps_ << ", affine=false, track_running_stats=false)";
}

void share_norm_statistics(torch::nn::Module& module, std::shared_ptr<NormStatistics> statistics) {
  for (const auto& child : module.modules(/*include_self=*/true)) {
    if (auto* norm = dynamic_cast<InstanceNormImpl*>(child.get())) norm->set_statistics(statistics);
  }
}

void share_batch_statistics(torch::nn::Module& module, RankSum sum) {
  for (const auto& child : module.modules(/*include_self=*/true)) {
    if (auto* norm = dynamic_cast<BatchNormImpl*>(child.get())) norm->set_rank_sum(sum);
  }
}

ResnetBlockImpl::ResnetBlockImpl(const ResnetBlockOptions& options) {
  const int64_t c = options.channels();
  check_positive("ResnetBlock channels", c);
  const bool bias = conv_bias_before(options.norm());
  conv_block_ = nn::Sequential(reflection_pad(1), conv(c, c, 3, 1, 0, bias));
  conv_block_->push_back(norm_layer(options.norm(), c));
  conv_block_->push_back(relu());
  // Official layout: dropout sits between the two convs, shifting the second conv to index 6.
  if (options.dropout()) conv_block_->push_back(nn::Dropout(0.5));
  conv_block_->push_back(reflection_pad(1));
  conv_block_->push_back(conv(c, c, 3, 1, 0, bias));
  conv_block_->push_back(norm_layer(options.norm(), c));
  register_module("conv_block", conv_block_);
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x) {
  return x + forward_sequence(*conv_block_, x);
}

ResnetGeneratorImpl::ResnetGeneratorImpl(const ResnetGeneratorOptions& options) {
  const int64_t ngf = options.ngf();
  check_positive("ResnetGenerator ngf", ngf);
  check_positive("ResnetGenerator in_channels", options.in_channels());
  check_positive("ResnetGenerator out_channels", options.out_channels());
  TORCH_CHECK(options.n_blocks() >= 0, "ResnetGenerator n_blocks must be >= 0, got ",
              options.n_blocks());
  const std::string& norm = options.norm();
  const bool bias = conv_bias_before(norm);
  model_ = nn::Sequential(reflection_pad(3), conv(options.in_channels(), ngf, 7, 1, 0, bias));
  model_->push_back(norm_layer(norm, ngf));
  model_->push_back(relu());
  constexpr int kDownsamplings = 2;
  for (int i = 0; i < kDownsamplings; ++i) {
    const int64_t mult = int64_t{1} << i;
    model_->push_back(conv(ngf * mult, ngf * mult * 2, 3, 2, 1, bias));
    model_->push_back(norm_layer(norm, ngf * mult * 2));
    model_->push_back(relu());
  }
  const int64_t bottleneck = ngf << kDownsamplings;
  for (int64_t i = 0; i < options.n_blocks(); ++i) {
    model_->push_back(ResnetBlock(
        ResnetBlockOptions().channels(bottleneck).dropout(options.dropout()).norm(norm)));
  }
  for (int i = 0; i < kDownsamplings; ++i) {
    const int64_t mult = int64_t{1} << (kDownsamplings - i);
    model_->push_back(conv_transpose(ngf * mult, ngf * mult / 2, 3, 2, 1, 1, bias));
    model_->push_back(norm_layer(norm, ngf * mult / 2));
    model_->push_back(relu());
  }
  model_->push_back(reflection_pad(3));
  model_->push_back(conv(ngf, options.out_channels(), 7, 1, 0));
  model_->push_back(nn::Tanh());
  register_module("model", model_);
}

torch::Tensor ResnetGeneratorImpl::logits(const torch::Tensor& x) {
  return forward_sequence(*model_, x, 0, model_->size() - 1);  // all but the Tanh
}

UnetBlockImpl::UnetBlockImpl(const UnetBlockOptions& options,
                             std::shared_ptr<UnetBlockImpl> submodule)
    : outermost_(options.outermost()) {
  const int64_t outer = options.outer_channels();
  const int64_t inner = options.inner_channels();
  const int64_t in = options.in_channels() > 0 ? options.in_channels() : outer;
  TORCH_CHECK(options.innermost() == (submodule == nullptr),
              "UnetBlock: the innermost level, and only it, has no submodule");
  const std::string& norm = options.norm();
  // As the official block: every level's down conv, the outermost's too, follows use_bias.
  const bool bias = conv_bias_before(norm);
  auto down_conv = conv(in, inner, 4, 2, 1, bias);
  model_ = nn::Sequential();
  if (options.outermost()) {
    model_->push_back(down_conv);
    model_->push_back(UnetBlock(submodule));
    model_->push_back(relu());
    model_->push_back(conv_transpose(inner * 2, outer, 4, 2, 1, 0));
    model_->push_back(nn::Tanh());
  } else if (options.innermost()) {
    model_->push_back(leaky_relu(/*inplace=*/true));
    model_->push_back(down_conv);
    model_->push_back(relu());
    model_->push_back(conv_transpose(inner, outer, 4, 2, 1, 0, bias));
    model_->push_back(norm_layer(norm, outer));
  } else {
    model_->push_back(leaky_relu(/*inplace=*/true));
    model_->push_back(down_conv);
    model_->push_back(norm_layer(norm, inner));
    model_->push_back(UnetBlock(submodule));
    model_->push_back(relu());
    model_->push_back(conv_transpose(inner * 2, outer, 4, 2, 1, 0, bias));
    model_->push_back(norm_layer(norm, outer));
    if (options.dropout()) model_->push_back(nn::Dropout(0.5));
  }
  register_module("model", model_);
}

torch::Tensor UnetBlockImpl::outermost_logits(const torch::Tensor& x) {
  TORCH_CHECK(outermost_, "UnetBlock::outermost_logits on an inner level");
  return forward_sequence(*model_, x, 0, model_->size() - 1);  // all but the Tanh
}

torch::Tensor UnetBlockImpl::forward(const torch::Tensor& x) {
  if (outermost_) return model_->forward(x);
  // The official block starts with LeakyReLU(inplace=True), which rewrites x before the
  // concatenation, so the skip carries leaky_relu(x). We keep that so imported weights
  // reproduce PyTorch's outputs.
  torch::Tensor inner = model_->forward(x);  // mutates x in place
  return torch::cat({x, inner}, 1);          // [N, C_x + C_inner, H, W]
}

UnetGeneratorImpl::UnetGeneratorImpl(const UnetGeneratorOptions& options) {
  const int64_t ngf = options.ngf();
  check_positive("UnetGenerator ngf", ngf);
  TORCH_CHECK(options.num_downs() >= 5, "UnetGenerator num_downs must be >= 5, got ",
              options.num_downs());
  const std::string& norm = options.norm();
  auto block = std::make_shared<UnetBlockImpl>(
      UnetBlockOptions().outer_channels(ngf * 8).inner_channels(ngf * 8).innermost(true).norm(norm),
      nullptr);
  for (int64_t i = 0; i < options.num_downs() - 5; ++i) {
    block = std::make_shared<UnetBlockImpl>(UnetBlockOptions()
                                                .outer_channels(ngf * 8)
                                                .inner_channels(ngf * 8)
                                                .dropout(options.dropout())
                                                .norm(norm),
                                            block);
  }
  for (int64_t mult : {4, 2, 1}) {
    block = std::make_shared<UnetBlockImpl>(
        UnetBlockOptions().outer_channels(ngf * mult).inner_channels(ngf * mult * 2).norm(norm),
        block);
  }
  block = std::make_shared<UnetBlockImpl>(UnetBlockOptions()
                                              .outer_channels(options.out_channels())
                                              .inner_channels(ngf)
                                              .in_channels(options.in_channels())
                                              .outermost(true)
                                              .norm(norm),
                                          block);
  model_ = register_module("model", UnetBlock(block));
}

torch::Tensor UnetGeneratorImpl::logits(const torch::Tensor& x) {
  return model_->outermost_logits(x);
}

BookUnetGeneratorImpl::BookUnetGeneratorImpl(const BookUnetGeneratorOptions& options) {
  const int64_t gf = options.ngf();
  check_positive("BookUnetGenerator ngf", gf);
  const std::vector<int64_t> down_channels = {gf, gf * 2, gf * 4, gf * 8};
  int64_t channels = options.in_channels();
  for (size_t i = 0; i < down_channels.size(); ++i) {
    // Keras 'same' padding of a 4x4 stride-2 conv on even sizes is 1 on each side.
    auto step = nn::Sequential(conv(channels, down_channels[i], 4, 2, 1));
    step->push_back(norm_layer(options.norm(), down_channels[i]));
    step->push_back(relu());
    down_.push_back(register_module("down" + std::to_string(i + 1), step));
    channels = down_channels[i];
  }
  for (size_t i = 0; i + 1 < down_channels.size(); ++i) {
    const int64_t skip_channels = down_channels[down_channels.size() - 2 - i];
    auto step = nn::Sequential(upsample_nearest_2x(), keras_same_pad_4x4(),
                               conv(channels, skip_channels, 4, 1, 0));
    step->push_back(norm_layer(options.norm(), skip_channels));
    step->push_back(relu());
    if (options.dropout()) step->push_back(nn::Dropout(0.5));
    up_.push_back(register_module("up" + std::to_string(i + 1), step));
    channels = skip_channels * 2;  // after concatenating the skip
  }
  output_ = register_module(
      "output", nn::Sequential(upsample_nearest_2x(), keras_same_pad_4x4(),
                               conv(channels, options.out_channels(), 4, 1, 0), nn::Tanh()));
}

namespace {

// The book U-Net's upsampling steps begin with Upsample, ZeroPad2d and a 4x4 Conv2d (their
// parameters keep those positions' names); the three run as one kernels::upsample_conv4x4.
torch::Tensor forward_upsampling_step(nn::SequentialImpl& step, const torch::Tensor& x,
                                      size_t end = SIZE_MAX) {
  const auto conv = std::dynamic_pointer_cast<nn::Conv2dImpl>(step.ptr(2));
  torch::Tensor h = kernels::upsample_conv4x4(x, conv->weight, conv->bias);
  return forward_sequence(step, h, 3, end);
}

}  // namespace

torch::Tensor BookUnetGeneratorImpl::logits(const torch::Tensor& x) {
  std::vector<torch::Tensor> skips;
  torch::Tensor h = x;
  for (auto& step : down_) {
    h = forward_sequence(*step, h);  // [N, gf * 2^i, H / 2^(i+1), W / 2^(i+1)]
    skips.push_back(h);
  }
  for (size_t i = 0; i < up_.size(); ++i) {
    const torch::Tensor& skip = skips[skips.size() - 2 - i];
    h = torch::cat({forward_upsampling_step(*up_[i], h), skip},
                   1);  // [N, 2 * C_skip, H_skip, W_skip]
  }
  return forward_upsampling_step(*output_, h, output_->size() - 1);  // [N, C_out, H, W], no Tanh
}

PatchDiscriminatorImpl::PatchDiscriminatorImpl(const PatchDiscriminatorOptions& options) {
  const int64_t ndf = options.ndf();
  check_positive("PatchDiscriminator ndf", ndf);
  const std::string& norm = options.norm();
  const bool bias = conv_bias_before(norm);
  if (options.architecture() == "pixel") {
    // The official PixelDiscriminator's last conv follows use_bias too.
    model_ = nn::Sequential(conv(options.in_channels(), ndf, 1, 1, 0), leaky_relu(true),
                            conv(ndf, 2 * ndf, 1, 1, 0, bias));
    model_->push_back(norm_layer(norm, 2 * ndf));
    model_->push_back(leaky_relu(true));
    model_->push_back(conv(2 * ndf, 1, 1, 1, 0, bias));
    register_module("net", model_);
    return;
  }
  if (options.architecture() != "n_layers") {
    throw ConfigError("unknown discriminator architecture '" + options.architecture() +
                      "' (expected n_layers or pixel)");
  }
  check_positive("PatchDiscriminator n_layers", options.n_layers());
  model_ = nn::Sequential(conv(options.in_channels(), ndf, 4, 2, 1), leaky_relu(true));
  int64_t mult = 1;
  for (int64_t n = 1; n <= options.n_layers(); ++n) {
    const int64_t previous = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    const int64_t stride = n < options.n_layers() ? 2 : 1;
    model_->push_back(conv(ndf * previous, ndf * mult, 4, stride, 1, bias));
    model_->push_back(norm_layer(norm, ndf * mult));
    model_->push_back(leaky_relu(true));
  }
  model_->push_back(conv(ndf * mult, 1, 4, 1, 1));
  register_module("model", model_);
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& x) {
  return forward_sequence(*model_, x);
}

torch::Tensor GeneratorModule::forward(const torch::Tensor& x) {
  torch::Tensor z = logits(x);
  if (!input_skip_) return torch::tanh(z);
  torch::Tensor skip = x.clamp(-1.0, 1.0);
  if (skip.size(1) != z.size(1)) {
    skip = skip.size(1) == 1 ? skip.expand_as(z) : skip.mean(1, /*keepdim=*/true).expand_as(z);
  }
  // 0.99 keeps atanh finite at +-1 and its slope at most 50, which tanh's slope there undoes.
  return torch::tanh(z + torch::atanh(skip * 0.99));
}

void GeneratorModule::zero_output_layer() {
  torch::Tensor weight, bias;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (const auto* conv = dynamic_cast<const nn::Conv2dImpl*>(module.get())) {
      weight = conv->weight, bias = conv->bias;
    } else if (const auto* up = dynamic_cast<const nn::ConvTranspose2dImpl*>(module.get())) {
      weight = up->weight, bias = up->bias;
    }
  }
  TORCH_CHECK(weight.defined(), "zero_output_layer: the generator has no convolution");
  torch::NoGradGuard no_grad;
  weight.zero_();
  if (bias.defined()) bias.zero_();
}

namespace {

GeneratorPtr make_architecture(const GeneratorOptions& options) {
  const std::string name = canonical_generator_name(options.architecture());
  if (name == "resnet_6blocks" || name == "resnet_9blocks") {
    return std::make_shared<ResnetGeneratorImpl>(ResnetGeneratorOptions()
                                                     .in_channels(options.in_channels())
                                                     .out_channels(options.out_channels())
                                                     .ngf(options.ngf())
                                                     .n_blocks(name == "resnet_6blocks" ? 6 : 9)
                                                     .dropout(options.dropout())
                                                     .norm(options.norm()));
  }
  if (name == "unet_128" || name == "unet_256") {
    return std::make_shared<UnetGeneratorImpl>(UnetGeneratorOptions()
                                                   .in_channels(options.in_channels())
                                                   .out_channels(options.out_channels())
                                                   .ngf(options.ngf())
                                                   .num_downs(name == "unet_128" ? 7 : 8)
                                                   .dropout(options.dropout())
                                                   .norm(options.norm()));
  }
  if (name == "unet") {
    return std::make_shared<BookUnetGeneratorImpl>(BookUnetGeneratorOptions()
                                                       .in_channels(options.in_channels())
                                                       .out_channels(options.out_channels())
                                                       .ngf(options.ngf())
                                                       .dropout(options.dropout())
                                                       .norm(options.norm()));
  }
  throw ConfigError("unknown generator architecture '" + options.architecture() +
                    "' (expected one of unet, unet_128, unet_256, resnet_6blocks, "
                    "resnet_9blocks)");
}

}  // namespace

GeneratorPtr make_generator(const GeneratorOptions& options) {
  const int64_t in = options.in_channels(), out = options.out_channels();
  if (options.input_skip() && in != out && in != 1 && out != 1) {
    throw ConfigError("an input skip joins " + std::to_string(in) + " input channels to " +
                      std::to_string(out) +
                      " output channels: they must be equal or one of them 1");
  }
  GeneratorPtr generator = make_architecture(options);
  generator->set_input_skip(options.input_skip());
  if (options.input_skip()) generator->zero_output_layer();
  return generator;
}

const std::vector<std::string>& init_types() {
  static const std::vector<std::string> kTypes = {"normal", "xavier", "kaiming", "orthogonal"};
  return kTypes;
}

void init_weights(torch::nn::Module& module, double gain, const std::string& type) {
  const auto& types = init_types();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    throw std::invalid_argument("init type must be normal, xavier, kaiming or orthogonal, got '" +
                                type + "'");
  }
  torch::NoGradGuard no_grad;
  std::set<const void*> norm_scales;  // BatchNorm weights, by storage
  for (const auto& child : module.modules()) {
    if (const auto* norm = dynamic_cast<const BatchNormImpl*>(child.get()))
      norm_scales.insert(norm->weight.data_ptr());
  }
  for (auto& item : module.named_parameters()) {
    torch::Tensor& parameter = item.value();
    if (norm_scales.count(parameter.data_ptr()) > 0) {
      parameter.normal_(1.0, gain);  // official: init.normal_(m.weight.data, 1.0, init_gain)
    } else if (parameter.dim() <= 1) {
      parameter.zero_();  // a conv bias or a BatchNorm shift
    } else if (type == "xavier") {
      nn::init::xavier_normal_(parameter, gain);
    } else if (type == "kaiming") {
      nn::init::kaiming_normal_(parameter, 0.0, torch::kFanIn);
    } else if (type == "orthogonal") {
      nn::init::orthogonal_(parameter, gain);
    } else if (parameter.device().is_cpu() && parameter.is_contiguous()) {
      fill_normal(parameter, gain);
    } else {
      parameter.normal_(0.0, gain);
    }
  }
}

std::vector<at::Tensor> biases_cancelled_by_normalisation(const nn::Module& network) {
  std::vector<at::Tensor> biases;
  for (const auto& module : network.modules()) {
    const auto* sequence = dynamic_cast<const nn::SequentialImpl*>(module.get());
    if (sequence == nullptr) continue;
    const auto children = sequence->children();
    for (size_t i = 0; i + 1 < children.size(); ++i) {
      if (dynamic_cast<const InstanceNormImpl*>(children[i + 1].get()) == nullptr) continue;
      at::Tensor bias;
      if (const auto* conv = dynamic_cast<const nn::Conv2dImpl*>(children[i].get())) {
        bias = conv->bias;
      } else if (const auto* up = dynamic_cast<const nn::ConvTranspose2dImpl*>(children[i].get())) {
        bias = up->bias;
      }
      if (bias.defined()) biases.push_back(bias);
    }
  }
  return biases;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

}  // namespace cyclegan
