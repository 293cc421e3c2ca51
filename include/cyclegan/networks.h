#pragma once

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cyclegan {

/// The generator architectures we build; names are the official PyTorch CycleGAN `--netG` values
/// plus `unet`, the book's U-Net (Foster, Generative Deep Learning, Example 5-2).
inline const std::vector<std::string>& generator_architectures() {
  static const std::vector<std::string> kNames = {"unet", "unet_128", "unet_256", "resnet_6blocks",
                                                  "resnet_9blocks"};
  return kNames;
}

/// The official --norm values: affine-free InstanceNorm (the default), BatchNorm2d (learned scale
/// and shift, running statistics used in eval mode) or none. As in the official networks, the
/// convolutions feeding a norm layer have a bias only with instance norm.
inline const std::vector<std::string>& norm_types() {
  static const std::vector<std::string> kNames = {"instance", "batch", "none"};
  return kNames;
}

/// Maps the book's spellings (`u-net`, `resnet`) onto architecture names; other names unchanged.
std::string canonical_generator_name(const std::string& name);

/// Image sides a generator accepts must be multiples of this (2^number of stride-2 levels).
int64_t generator_size_multiple(const std::string& architecture);

/// Per-channel statistics of every InstanceNorm call of a forward pass, in call order. Tiled
/// inference records them on the whole (downscaled) image and replays them on every tile, so
/// all tiles are normalised alike and no seam shows between them.
struct NormStatistics {
  enum class Mode { kOff, kRecord, kReplay };
  Mode mode = Mode::kOff;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> mean_var;  // each [N, C, 1, 1]
  size_t cursor = 0;                                              // next entry to replay
};

/// InstanceNorm2d without learned scale/shift or running statistics: the same in training and
/// inference, and no state_dict entries (official CycleGAN's `norm='instance'`).
class InstanceNormImpl : public torch::nn::Module {
 public:
  explicit InstanceNormImpl(double eps = 1e-5) : eps_(eps) {}
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;
  /// forward(x) followed by an in-place LeakyReLU(negative_slope) (0: ReLU), in one kernel where
  /// the run's kernel policy allows (kernels::instance_norm_activation).
  torch::Tensor forward_activated(const torch::Tensor& x, double negative_slope);
  /// Null (the default) normalises each input by its own statistics.
  void set_statistics(std::shared_ptr<NormStatistics> statistics) { statistics_ = statistics; }

 private:
  double eps_;
  std::shared_ptr<NormStatistics> statistics_;
};
TORCH_MODULE(InstanceNorm);

/// sequence's modules from index `first` on, applied in order, as Sequential::forward, except
/// that an InstanceNorm followed by a ReLU or LeakyReLU runs as InstanceNorm::forward_activated.
/// Both modules stay in the sequence, so the state dict keeps the official numbering.
torch::Tensor forward_sequence(torch::nn::SequentialImpl& sequence, torch::Tensor x,
                               size_t first = 0, size_t end = SIZE_MAX);

/// Points every InstanceNorm inside `module` at `statistics` (null: back to normal).
void share_norm_statistics(torch::nn::Module& module, std::shared_ptr<NormStatistics> statistics);

/// Element-wise sum of a few numbers over the data-parallel ranks (ProcessGroup::sum).
using RankSum = std::function<std::vector<double>(const std::vector<double>&)>;

/// Makes every BatchNorm inside `module` normalise, in training mode, by the statistics of the
/// global batch (all ranks' images, as one rank with the whole batch would), and its gradient
/// account for them (SyncBatchNorm); `sum` adds numbers up over the ranks, once per pass and
/// once per backward pass of each layer, in the same order on every rank. Null: each rank's own.
void share_batch_statistics(torch::nn::Module& module, RankSum sum);

/// Common interface so trainer, checkpoints and translate handle every generator alike.
class GeneratorModule : public torch::nn::Module {
 public:
  /// [N, C_in, H, W] in [-1, 1] -> [N, C_out, H, W] in [-1, 1]; H, W multiples of size_multiple().
  /// tanh(logits(x)), or with the input skip tanh(logits(x) + atanh(0.99 x)), x's channels
  /// repeated (1 -> 3) or averaged (3 -> 1) to the output's.
  torch::Tensor forward(const torch::Tensor& x);
  /// Everything before the final tanh: [N, C_out, H, W].
  virtual torch::Tensor logits(const torch::Tensor& x) = 0;

  /// A path from the input straight to the output (model.input_skip). It changes what the weights
  /// mean, so such a generator is no official network: `export` refuses it.
  bool input_skip() const { return input_skip_; }
  void set_input_skip(bool on) { input_skip_ = on; }
  /// Zeroes the output convolution (the last one registered), so that with the input skip the
  /// network starts as the identity (up to 1%) and training learns only the change.
  void zero_output_layer();

 private:
  bool input_skip_ = false;
};
using GeneratorPtr = std::shared_ptr<GeneratorModule>;

struct GeneratorOptions {
  TORCH_ARG(std::string, architecture) = "resnet_9blocks";
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, out_channels) = 3;
  TORCH_ARG(int64_t, ngf) = 64;
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
  /// GeneratorModule::input_skip; the output layer then starts at zero.
  TORCH_ARG(bool, input_skip) = false;
};

struct ResnetBlockOptions {
  TORCH_ARG(int64_t, channels) = 256;
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// x + conv_block(x), conv_block = reflect pad, 3x3 conv, norm, ReLU, [dropout], reflect pad,
/// 3x3 conv, norm; no activation after the sum (official `ResnetBlock`).
class ResnetBlockImpl : public torch::nn::Module {
 public:
  explicit ResnetBlockImpl(const ResnetBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential conv_block_{nullptr};
};
TORCH_MODULE(ResnetBlock);

struct ResnetGeneratorOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, out_channels) = 3;
  TORCH_ARG(int64_t, ngf) = 64;
  TORCH_ARG(int64_t, n_blocks) = 9;
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// ResNet generator (Johnson et al.; official `resnet_{6,9}blocks`): H, W multiples of 4.
class ResnetGeneratorImpl : public GeneratorModule {
 public:
  explicit ResnetGeneratorImpl(const ResnetGeneratorOptions& options);
  torch::Tensor logits(const torch::Tensor& x) override;

 private:
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(ResnetGenerator);

struct UnetBlockOptions {
  TORCH_ARG(int64_t, outer_channels) = 64;
  TORCH_ARG(int64_t, inner_channels) = 128;
  TORCH_ARG(int64_t, in_channels) = 0;  // 0: same as outer_channels
  TORCH_ARG(bool, outermost) = false;
  TORCH_ARG(bool, innermost) = false;
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// One level of the official U-Net (`UnetSkipConnectionBlock`): down, submodule, up, and the skip
/// concatenation on every level but the outermost.
class UnetBlockImpl : public torch::nn::Module {
 public:
  /// `submodule` is the next-inner level; null for the innermost level.
  UnetBlockImpl(const UnetBlockOptions& options, std::shared_ptr<UnetBlockImpl> submodule);
  torch::Tensor forward(const torch::Tensor& x);
  /// The outermost level's output before its tanh.
  torch::Tensor outermost_logits(const torch::Tensor& x);

 private:
  bool outermost_;
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(UnetBlock);

struct UnetGeneratorOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, out_channels) = 3;
  TORCH_ARG(int64_t, ngf) = 64;
  TORCH_ARG(int64_t, num_downs) = 8;  // 7: unet_128, 8: unet_256
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// Official U-Net generator (`unet_128`, `unet_256`): H, W multiples of 2^num_downs.
class UnetGeneratorImpl : public GeneratorModule {
 public:
  explicit UnetGeneratorImpl(const UnetGeneratorOptions& options);
  torch::Tensor logits(const torch::Tensor& x) override;

 private:
  UnetBlock model_{nullptr};
};
TORCH_MODULE(UnetGenerator);

struct BookUnetGeneratorOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, out_channels) = 3;
  TORCH_ARG(int64_t, ngf) = 32;
  TORCH_ARG(bool, dropout) = false;
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// The book's U-Net (Example 5-2): four stride-2 4x4 conv downsamplings, three nearest-upsample +
/// 4x4 conv upsamplings with skips, final upsample + 4x4 conv + tanh. H, W multiples of 16. Its
/// convolutions keep their biases whatever the norm (Keras layers have them).
class BookUnetGeneratorImpl : public GeneratorModule {
 public:
  explicit BookUnetGeneratorImpl(const BookUnetGeneratorOptions& options);
  torch::Tensor logits(const torch::Tensor& x) override;

 private:
  std::vector<torch::nn::Sequential> down_;
  std::vector<torch::nn::Sequential> up_;
  torch::nn::Sequential output_{nullptr};
};
TORCH_MODULE(BookUnetGenerator);

struct PatchDiscriminatorOptions {
  /// "n_layers" (official basic / n_layers: NLayerDiscriminator) or "pixel" (PixelDiscriminator).
  TORCH_ARG(std::string, architecture) = "n_layers";
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, ndf) = 64;
  TORCH_ARG(int64_t, n_layers) = 3;           ///< n_layers only
  TORCH_ARG(std::string, norm) = "instance";  ///< norm_types()
};

/// PatchGAN: [N, C, H, W] -> [N, 1, H', W'] raw scores, one per patch. n_layers is the official
/// `NLayerDiscriminator` (overlapping 70x70 patches and a 30x30 output at 256x256 for n_layers =
/// 3; keys model.*); pixel is its `PixelDiscriminator` (1x1 patches: one score per pixel from
/// 1x1 convolutions ndf -> 2 ndf -> 1; keys net.*). Throws ConfigError for another architecture.
class PatchDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit PatchDiscriminatorImpl(const PatchDiscriminatorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

/// Builds the generator named by options.architecture(); throws ConfigError for unknown names.
GeneratorPtr make_generator(const GeneratorOptions& options);

/// The official --init_type values, in the order of the documentation.
const std::vector<std::string>& init_types();

/// Draws every conv and transposed-conv weight again from the default generator, biases 0, as the
/// official init_weights(net, init_type, init_gain): normal N(0, gain); xavier (Glorot normal,
/// times gain); kaiming (He normal, fan_in, for ReLU; gain unused); orthogonal (times gain).
/// BatchNorm scales are drawn N(1, gain) and their shifts set to 0 whatever the type. Every
/// network here is built already initialised as normal with gain 0.02 (not LibTorch's
/// kaiming_uniform_), drawn in construction order. Throws std::invalid_argument for another type.
void init_weights(torch::nn::Module& module, double gain = 0.02,
                  const std::string& type = "normal");

/// The biases of convolutions whose output goes straight into an InstanceNorm. The norm subtracts
/// each channel's mean, so such a bias changes no output and its exact gradient is zero; what
/// backpropagation computes for it is rounding noise, which Adam (dividing by the gradient's own
/// running magnitude) would turn into steps of +-learning_rate. Training zeroes these gradients.
std::vector<at::Tensor> biases_cancelled_by_normalisation(const torch::nn::Module& network);

/// Number of scalar parameters.
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace cyclegan
