#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cyclegan {

/// Everything a training run needs. Field names are the YAML keys (`section.key`); the book's
/// parameter names (input_dim, learning_rate, lambda_*, generator_type, *_n_filters) are kept.
struct TrainConfig {
  // data
  std::string data_root = "datasets/fruit";    ///< folder holding trainA/ trainB/ [testA/ testB/]
  int64_t load_size = 0;                       ///< resize side before cropping; 0 = input_dim
  std::string preprocess = "resize_and_crop";  ///< official --preprocess (data.h)
  bool flip = true;                            ///< random horizontal flip
  int64_t batch_size = 1;
  int64_t workers = 2;             ///< decoding/augmentation threads
  int64_t prefetch = 4;            ///< batches prepared ahead of the training step
  int64_t max_dataset_size = 0;    ///< first N images of each domain (name order); 0 = all
  bool serial_batches = false;     ///< A and B in name order instead of shuffled / random
  std::string direction = "AtoB";  ///< AtoB | BtoA (B folders read as domain A)

  // model
  int64_t input_dim = 128;  ///< training image side (the crop size)
  int64_t channels = 3;     ///< image channels of both domains, unless input_nc / output_nc say
  int64_t input_nc = 0;     ///< domain A's channels, 1 or 3; 0 = channels
  int64_t output_nc = 0;    ///< domain B's channels, 1 or 3; 0 = channels
  std::string generator_type = "unet";
  int64_t gen_n_filters = 32;
  int64_t disc_n_filters = 32;
  std::string disc_type = "patchgan";  ///< patchgan (disc_n_layers) | pixel
  int64_t disc_n_layers = 3;
  bool dropout = false;
  std::string norm = "instance";     ///< instance | batch | none (networks.h norm_types)
  std::string init_type = "normal";  ///< normal | xavier | kaiming | orthogonal (networks.h)
  bool input_skip = false;           ///< generators start as the identity (GeneratorModule)
  double init_gain = 0.02;

  // train
  int64_t epochs = 200;      ///< epochs at the initial learning rate
  int64_t decay_epochs = 0;  ///< further epochs (linear: over which the rate falls towards 0)
  std::string lr_policy = "linear";  ///< linear | step | plateau | cosine (schedule.h)
  int64_t lr_step_epochs = 50;       ///< step: epochs between x0.1
  int64_t max_steps = 0;             ///< stop after this many steps; 0 = no limit
  double learning_rate = 0.0002;
  double beta1 = 0.5;
  double beta2 = 0.999;
  double lambda_validation = 1.0;
  double lambda_reconstr = 10.0;
  double lambda_reconstr_a = -1;  ///< A -> B -> A cycle weight; -1 = lambda_reconstr
  double lambda_reconstr_b = -1;  ///< B -> A -> B cycle weight; -1 = lambda_reconstr
  double lambda_id = 2.0;
  std::string gan_mode = "lsgan";   ///< lsgan | vanilla | wgangp (losses.h)
  std::string recipe = "official";  ///< official | fast (training_recipes())
  double lambda_gp = 10.0;          ///< wgangp: weight of the gradient penalty
  int64_t pool_size = 50;
  int64_t seed = 0;
  std::string device = "auto";     ///< auto | cpu | cuda | cuda:N
  int64_t threads = 0;             ///< 0 = all cores
  bool cuda_graphs = true;         ///< replay each step's kernels as CUDA graphs (CUDA only)
  std::string precision = "fp32";  ///< fp32 | bf16 (the convolutions' arithmetic; CPU only)

  // output
  std::string output_dir = "runs/cyclegan";
  int64_t log_every = 10;           ///< steps between progress lines
  int64_t sample_every = 200;       ///< steps between sample grids; 0 = at epoch ends
  int64_t checkpoint_every = 1000;  ///< steps between checkpoints, besides epoch ends
  int64_t keep_checkpoints = 2;     ///< newest training-state checkpoints kept
  int64_t keep_every_epochs = 50;   ///< also keep the checkpoint of every k-th epoch; 0 = none
  int64_t eval_every = 0;           ///< steps between quality measures (quality.csv); 0 = none
  int64_t eval_images = 50;         ///< test images measured per direction

  // distributed (used when launched by torchrun or with --nproc)
  std::string distributed_backend = "auto";  ///< auto | gloo | nccl
  double distributed_timeout = 300;          ///< seconds before a silent rank fails the run
  std::string lr_scaling = "keep";           ///< keep | linear (rate x world size)
  int64_t check_every = 100;                 ///< steps between cross-rank weight checksums

  /// The A -> B -> A and B -> A -> B cycle weights (lambda_reconstr_a / _b, else lambda_reconstr).
  double cycle_weight_a() const {
    return lambda_reconstr_a >= 0 ? lambda_reconstr_a : lambda_reconstr;
  }
  double cycle_weight_b() const {
    return lambda_reconstr_b >= 0 ? lambda_reconstr_b : lambda_reconstr;
  }

  /// Domain A's and domain B's image channels (input_nc / output_nc, else channels).
  int64_t channels_a() const { return input_nc > 0 ? input_nc : channels; }
  int64_t channels_b() const { return output_nc > 0 ? output_nc : channels; }

  /// Whether data.preprocess keeps each image's own shape (scale_width, none): batches then vary
  /// in shape, and the crop size input_dim only bounds scale_width's height from below.
  bool keeps_image_shapes() const { return preprocess == "scale_width" || preprocess == "none"; }

  /// Whether the generators add their input to their output: model.input_skip, or a recipe
  /// that includes it.
  bool generators_skip_input() const { return input_skip || recipe == "fast"; }

  /// load_size, or input_dim when load_size is 0.
  int64_t effective_load_size() const { return load_size > 0 ? load_size : input_dim; }
};

/// train.recipe values: "official" trains as the official code does; "fast" adds what the
/// quality benchmark (bench/quality.cpp) showed to pay at the same step budget.
const std::vector<std::string>& training_recipes();

/// One documented configuration key, for help texts and the README.
struct ConfigKeyDoc {
  std::string name;  ///< `section.key`
  std::string type;
  std::string default_value;
  std::string description;
};

/// Every configuration key with its type, default and meaning, in file order.
std::vector<ConfigKeyDoc> config_key_docs();

/// Reads a YAML file of `section: {key: value}` maps over the defaults, then validates.
/// Throws ConfigError naming the file, the key, the value and what was expected.
TrainConfig load_train_config(const std::filesystem::path& file);

/// load_train_config() for YAML text in memory; `origin` (a file name, "stdin") starts every
/// error message. Throws ConfigError only.
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& origin);

/// Applies `section.key=value` (or a bare `key=value` when the key name is unique).
/// Does not validate: call validate() after the last override. With `resuming`, only keys that
/// cannot change the model or its results (logging intervals, device, threads, loader threads,
/// max_steps) are accepted; others throw ConfigError.
void apply_override(TrainConfig& config, const std::string& assignment, bool resuming = false);

/// Cross-key checks (sizes the generator can take, load >= crop, ...); throws ConfigError.
/// `origin` prefixes messages (the file name, or "command line").
void validate(const TrainConfig& config, const std::string& origin = "config");

/// The configuration as YAML that load_train_config() reads back to the same values.
std::string to_yaml(const TrainConfig& config);

}  // namespace cyclegan
