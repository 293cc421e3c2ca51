#include "cyclegan/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <variant>

#include "cyclegan/data.h"
#include "cyclegan/errors.h"
#include "cyclegan/networks.h"
#include "cyclegan/schedule.h"

namespace cyclegan {
namespace {

using FieldPointer = std::variant<int64_t TrainConfig::*, double TrainConfig::*,
                                  bool TrainConfig::*, std::string TrainConfig::*>;

struct Field {
  const char* section;
  const char* key;
  FieldPointer pointer;
  double min_value;  // inclusive lower bound for numbers
  const char* description;

  std::string name() const { return std::string(section) + "." + key; }
};

constexpr double kNoMin = -std::numeric_limits<double>::infinity();

const std::vector<Field>& fields() {
  static const std::vector<Field> kFields = {
      {"data", "root", &TrainConfig::data_root, kNoMin,
       "dataset folder holding trainA/ trainB/ (and testA/ testB/ for samples)"},
      {"data", "load_size", &TrainConfig::load_size, 0,
       "images are resized to this side before random cropping; 0 = model.input_dim"},
      {"data", "preprocess", &TrainConfig::preprocess, kNoMin,
       "resize_and_crop (both sides to load_size, random input_dim crop), crop (random crop at "
       "the image's own size), scale_width (width to load_size, height in proportion, no crop), "
       "scale_width_and_crop, or none (own size); uncropped sides are rounded to a multiple the "
       "generator takes (official --preprocess)"},
      {"data", "flip", &TrainConfig::flip, kNoMin, "random horizontal flip of training images"},
      {"data", "batch_size", &TrainConfig::batch_size, 1, "images per domain per step"},
      {"data", "workers", &TrainConfig::workers, 1, "threads decoding and augmenting images"},
      {"data", "prefetch", &TrainConfig::prefetch, 1, "batches prepared ahead of the step"},
      {"data", "max_dataset_size", &TrainConfig::max_dataset_size, 0,
       "train on the first N images of each domain, in name order (official "
       "--max_dataset_size); 0 = all"},
      {"data", "serial_batches", &TrainConfig::serial_batches, kNoMin,
       "take A and B images in name order, position p pairing A[p mod |A|] with B[p mod |B|] "
       "(official --serial_batches), instead of a shuffled A and a random B"},
      {"data", "direction", &TrainConfig::direction, kNoMin,
       "AtoB, or BtoA: trainB/ testB/ are read as domain A and trainA/ testA/ as B, so g_AB "
       "translates B images to A (official --direction)"},
      {"model", "input_dim", &TrainConfig::input_dim, 1,
       "training image side in pixels (the crop size); a multiple the generator accepts"},
      {"model", "channels", &TrainConfig::channels, 1,
       "image channels of both domains: 3 (RGB) or 1 (gray, as PIL's convert('L'))"},
      {"model", "input_nc", &TrainConfig::input_nc, 0,
       "domain A's channels, 1 or 3 (official --input_nc); 0 = model.channels"},
      {"model", "output_nc", &TrainConfig::output_nc, 0,
       "domain B's channels, 1 or 3 (official --output_nc); 0 = model.channels"},
      {"model", "generator_type", &TrainConfig::generator_type, kNoMin,
       "unet (the book's), unet_128, unet_256, resnet_6blocks, resnet_9blocks; "
       "'u-net' and 'resnet' as the book writes them"},
      {"model", "gen_n_filters", &TrainConfig::gen_n_filters, 1,
       "filters in the generators' first layer (ngf)"},
      {"model", "disc_n_filters", &TrainConfig::disc_n_filters, 1,
       "filters in the discriminators' first layer (ndf)"},
      {"model", "disc_type", &TrainConfig::disc_type, kNoMin,
       "discriminator (official --netD): patchgan (overlapping patches, disc_n_layers deep; "
       "official basic and n_layers) or pixel (a 1x1 PixelGAN, one score per pixel)"},
      {"model", "disc_n_layers", &TrainConfig::disc_n_layers, 1,
       "stride-2 layers of the patchgan discriminator (3 = 70x70 patches; official --n_layers_D)"},
      {"model", "dropout", &TrainConfig::dropout, kNoMin, "dropout 0.5 in the generators"},
      {"model", "norm", &TrainConfig::norm, kNoMin,
       "normalisation layers of all four networks (official --norm): instance (affine-free), "
       "batch (BatchNorm2d: learned scale and shift, running statistics used by translate) or "
       "none; convolutions feeding a norm have a bias only with instance"},
      {"model", "init_type", &TrainConfig::init_type, kNoMin,
       "initial weights of every convolution (official --init_type): normal N(0, init_gain), "
       "xavier (Glorot normal x init_gain), kaiming (He normal, fan in), orthogonal (x init_gain); "
       "biases 0"},
      {"model", "init_gain", &TrainConfig::init_gain, 0,
       "scale of init_type normal, xavier and orthogonal (official --init_gain)"},
      {"model", "input_skip", &TrainConfig::input_skip, kNoMin,
       "generators add their input to their output (tanh(f(x) + atanh(0.99 x))) with f's last "
       "layer starting at zero: training starts from the unchanged image and learns the change. "
       "Not an official network: export refuses such generators"},
      {"train", "epochs", &TrainConfig::epochs, 0, "epochs at the initial learning rate"},
      {"train", "decay_epochs", &TrainConfig::decay_epochs, 0,
       "further epochs; with lr_policy linear the rate falls towards 0 over them"},
      {"train", "lr_policy", &TrainConfig::lr_policy, kNoMin,
       "learning-rate policy per epoch (official --lr_policy): linear (constant for epochs, then "
       "falling over decay_epochs), step (x0.1 every lr_step_epochs), plateau (x0.2 after 5 "
       "epochs whose mean generator loss is not 1 % below the best), cosine (annealed to 0 over "
       "epochs)"},
      {"train", "lr_step_epochs", &TrainConfig::lr_step_epochs, 1,
       "epochs between the x0.1 steps of lr_policy step (official --lr_decay_iters)"},
      {"train", "max_steps", &TrainConfig::max_steps, 0,
       "stop after this many steps in total; 0 = no limit"},
      {"train", "learning_rate", &TrainConfig::learning_rate, 0, "Adam learning rate"},
      {"train", "beta1", &TrainConfig::beta1, 0, "Adam beta1"},
      {"train", "beta2", &TrainConfig::beta2, 0, "Adam beta2"},
      {"train", "lambda_validation", &TrainConfig::lambda_validation, 0,
       "weight of the adversarial (validity) loss"},
      {"train", "lambda_reconstr", &TrainConfig::lambda_reconstr, 0,
       "weight of the cycle-reconstruction L1 loss"},
      {"train", "lambda_reconstr_a", &TrainConfig::lambda_reconstr_a, -1,
       "weight of the A -> B -> A cycle L1 (official --lambda_A); -1 = lambda_reconstr"},
      {"train", "lambda_reconstr_b", &TrainConfig::lambda_reconstr_b, -1,
       "weight of the B -> A -> B cycle L1 (official --lambda_B); -1 = lambda_reconstr. When the "
       "two differ, each identity term scales with its images' cycle weight over lambda_reconstr, "
       "as the official lambda_identity x lambda_A / lambda_B"},
      {"train", "lambda_id", &TrainConfig::lambda_id, 0,
       "weight of the identity L1 loss; 0 skips the identity passes"},
      {"train", "recipe", &TrainConfig::recipe, kNoMin,
       "official (the official code's training) or fast: generators that start as the identity "
       "(model.input_skip), which reach a given quality in far fewer steps; see the README's "
       "'Which recipe'"},
      {"train", "gan_mode", &TrainConfig::gan_mode, kNoMin,
       "adversarial objective (official --gan_mode): lsgan (least squares, the paper's), vanilla "
       "(binary cross-entropy on logits), wgangp (Wasserstein, with lambda_gp's penalty)"},
      {"train", "lambda_gp", &TrainConfig::lambda_gp, 0,
       "gan_mode wgangp: weight of the gradient penalty on the discriminators; 0 = none, as the "
       "official trainer (which never calls its penalty)"},
      {"train", "pool_size", &TrainConfig::pool_size, 0,
       "history of generated images shown to the discriminators; 0 = none"},
      {"train", "seed", &TrainConfig::seed, 0, "seed for weights, data order and augmentation"},
      {"train", "device", &TrainConfig::device, kNoMin,
       "auto (CUDA if present), cpu, cuda, cuda:N"},
      {"train", "threads", &TrainConfig::threads, 0, "CPU threads for LibTorch; 0 = all cores"},
      {"train", "cuda_graphs", &TrainConfig::cuda_graphs, kNoMin,
       "on CUDA, record the step's kernels once as CUDA graphs and replay them (one process; "
       "the first step of each input shape runs kernel by kernel)"},
      {"train", "precision", &TrainConfig::precision, kNoMin,
       "fp32, or bf16: the training convolutions compute in bfloat16 (CPUs with AVX512-BF16 "
       "or AMX; weights, optimiser and losses stay float32)"},
      {"output", "dir", &TrainConfig::output_dir, kNoMin,
       "run directory: config, logs, samples, checkpoints"},
      {"output", "log_every", &TrainConfig::log_every, 1, "steps between progress lines"},
      {"output", "sample_every", &TrainConfig::sample_every, 0,
       "steps between sample grids (and one at the finish); 0 = at epoch ends"},
      {"output", "checkpoint_every", &TrainConfig::checkpoint_every, 0,
       "steps between checkpoints; one is also written at every epoch end and at the finish"},
      {"output", "keep_checkpoints", &TrainConfig::keep_checkpoints, 1,
       "newest checkpoints/step_*.pt kept (older ones are deleted once a newer one is complete)"},
      {"output", "keep_every_epochs", &TrainConfig::keep_every_epochs, 0,
       "also keep the checkpoint at the end of every k-th epoch; 0 = none"},
      {"output", "eval_every", &TrainConfig::eval_every, 0,
       "steps between quality measures on the test images (and at the end): cycle and identity "
       "L1, and L1, PSNR and SSIM against testA_gt/ testB_gt/ where they exist, appended to "
       "quality.csv and drawn in report.html; 0 = none"},
      {"output", "eval_images", &TrainConfig::eval_images, 1,
       "test images measured per direction (the first, by name) each time"},
      {"distributed", "backend", &TrainConfig::distributed_backend, kNoMin,
       "process-group backend of a multi-process run: auto (nccl on CUDA where LibTorch has "
       "it, else gloo), gloo, nccl"},
      {"distributed", "timeout", &TrainConfig::distributed_timeout, 1,
       "seconds a rank waits for the others in a collective before the run stops with a "
       "message naming the silent rank"},
      {"distributed", "lr_scaling", &TrainConfig::lr_scaling, kNoMin,
       "keep: train.learning_rate as given for the global batch (world size x batch_size); "
       "linear: multiplied by the world size"},
      {"distributed", "check_every", &TrainConfig::check_every, 0,
       "steps between checks that every rank holds identical weights; 0 = never"},
  };
  return kFields;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string nearest_section_hint(const std::string& wanted) {
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const char* section : {"data", "model", "train", "output", "distributed"}) {
    const size_t distance = edit_distance(wanted, section);
    if (distance < best_distance) {
      best_distance = distance;
      best = section;
    }
  }
  return best_distance <= 2 ? " (did you mean '" + best + "'?)" : "";
}

std::string nearest_key_hint(const std::string& wanted) {
  // Compare against both `section.key` and the bare key, so `lamda_id` finds `train.lambda_id`.
  const std::string bare =
      wanted.substr(wanted.find('.') == std::string::npos ? 0 : wanted.find('.') + 1);
  const Field* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const Field& field : fields()) {
    size_t distance = std::min(edit_distance(wanted, field.name()), edit_distance(bare, field.key));
    // A truncated key (`generator` for `generator_type`) is a near miss too.
    if (bare.size() >= 3 && std::string(field.key).rfind(bare, 0) == 0) {
      distance = std::min<size_t>(distance, 1);
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = &field;
    }
  }
  if (best == nullptr || best_distance > std::max<size_t>(3, bare.size() / 3)) return "";
  return " (did you mean '" + best->name() + "'?)";
}

std::string expected_keys_list() {
  std::string list;
  for (const Field& field : fields()) list += (list.empty() ? "" : ", ") + field.name();
  return list;
}

const Field* find_field(const std::string& section, const std::string& key) {
  for (const Field& field : fields()) {
    if (section == field.section && key == field.key) return &field;
  }
  return nullptr;
}

bool is_section(const std::string& name) {
  return std::any_of(fields().begin(), fields().end(),
                     [&](const Field& field) { return name == field.section; });
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string format_double(double value) {
  // Shortest text that reads back to the same double, so written configs round-trip exactly.
  for (int precision = 6; precision <= 17; ++precision) {
    std::ostringstream out;
    out.precision(precision);
    out << value;
    if (std::strtod(out.str().c_str(), nullptr) == value) return out.str();
  }
  return std::to_string(value);
}

// Sets one field from its text form; `where` prefixes error messages.
void set_field(TrainConfig& config, const Field& field, const std::string& text,
               const std::string& where) {
  const std::string prefix = where + "key '" + field.name() + "' ";
  auto check_min = [&](double value) {
    if (value < field.min_value) {
      throw ConfigError(prefix + "must be >= " + format_double(field.min_value) + ", got " + text);
    }
  };
  std::visit(
      [&](auto pointer) {
        using Value = std::decay_t<decltype(config.*pointer)>;
        if constexpr (std::is_same_v<Value, int64_t>) {
          int64_t value = 0;
          const char* end = text.data() + text.size();
          auto [ptr, error] = std::from_chars(text.data(), end, value);
          if (error != std::errc() || ptr != end) {
            throw ConfigError(prefix + "must be an integer, got '" + text + "'");
          }
          check_min(static_cast<double>(value));
          config.*pointer = value;
        } else if constexpr (std::is_same_v<Value, double>) {
          char* end = nullptr;
          errno = 0;
          const double value = std::strtod(text.c_str(), &end);
          // Overflow gives infinity. Underflow sets ERANGE: refused where it lost the value, kept
          // where the result is subnormal (to_yaml() writes those as decimals that set it too).
          if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) ||
              (errno == ERANGE && value == 0)) {
            throw ConfigError(prefix + "must be a finite number, got '" + text + "'");
          }
          check_min(value);
          config.*pointer = value;
        } else if constexpr (std::is_same_v<Value, bool>) {
          const std::string lower = lowercase(text);
          if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
            config.*pointer = true;
          } else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") {
            config.*pointer = false;
          } else {
            throw ConfigError(prefix + "must be true or false, got '" + text + "'");
          }
        } else {
          config.*pointer = text;
        }
      },
      field.pointer);
}

std::string field_text(const TrainConfig& config, const Field& field) {
  return std::visit(
      [&](auto pointer) -> std::string {
        const auto& value = config.*pointer;
        using Value = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<Value, int64_t>) {
          return std::to_string(value);
        } else if constexpr (std::is_same_v<Value, double>) {
          return format_double(value);
        } else if constexpr (std::is_same_v<Value, bool>) {
          return value ? "true" : "false";
        } else {
          return value;
        }
      },
      field.pointer);
}

std::string type_name(const Field& field) {
  switch (field.pointer.index()) {
    case 0:
      return "integer";
    case 1:
      return "number";
    case 2:
      return "boolean";
    default:
      return "string";
  }
}

// A double-quoted YAML scalar that reads back to `text`: a raw line break would be folded into a
// space, and other control characters are not allowed in a YAML stream, so both are escaped.
std::string yaml_quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      const char* hex = "0123456789ABCDEF";
      quoted += "\\x";
      quoted += hex[byte >> 4];
      quoted += hex[byte & 0xF];
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

std::string line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? " (line " + std::to_string(mark.line + 1) + ")" : "";
}

// The name in a mapping key. A complex key (`? [a, b]: 1`) or a missing one (`? : 1`) names
// nothing: a ConfigError rather than yaml-cpp's bad-conversion exception.
std::string key_name(const YAML::Node& key, const std::string& origin, const std::string& what) {
  if (key.IsScalar()) return key.Scalar();
  if (key.IsNull()) return "null";  // `~: 1` or `null: 1`, as yaml-cpp spells it
  std::string got = "nothing";
  if (key.IsSequence()) got = "a list";
  if (key.IsMap()) got = "a map";
  throw ConfigError(origin + ": " + what + line_of(key) + " must be a plain name, got " + got);
}

}  // namespace

const std::vector<std::string>& training_recipes() {
  static const std::vector<std::string> kRecipes = {"official", "fast"};
  return kRecipes;
}

std::vector<ConfigKeyDoc> config_key_docs() {
  const TrainConfig defaults;
  std::vector<ConfigKeyDoc> docs;
  for (const Field& field : fields()) {
    docs.push_back(
        {field.name(), type_name(field), field_text(defaults, field), field.description});
  }
  return docs;
}

TrainConfig load_train_config(const std::filesystem::path& file) {
  const std::string origin = file.string();
  std::error_code error;
  if (!std::filesystem::is_regular_file(file, error)) {
    throw ConfigError(origin + ": config file not found (or not a regular file)");
  }
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw ConfigError(origin + ": cannot read config file");
  const std::string text((std::istreambuf_iterator<char>(stream)),
                         std::istreambuf_iterator<char>());
  if (stream.bad()) throw ConfigError(origin + ": cannot read config file");
  return parse_train_config(text, origin);
}

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) throw ConfigError(origin + ": config file is empty");
  if (!root.IsMap()) {
    throw ConfigError(
        origin + ": expected a map of sections (data, model, train, output, distributed), got " +
        (root.IsSequence() ? "a list" : "a single value"));
  }
  TrainConfig config;
  for (const auto& section_entry : root) {
    const std::string section = key_name(section_entry.first, origin, "a section name");
    const YAML::Node& body = section_entry.second;
    if (!is_section(section)) {
      // A flat `input_dim: 64` at the top level gets pointed to `model.input_dim`.
      const std::string hint = nearest_section_hint(section);
      throw ConfigError(origin + ": unknown section '" + section + "'" +
                        line_of(section_entry.first) +
                        (hint.empty() ? nearest_key_hint(section) : hint) +
                        "; expected data, model, train, output, distributed");
    }
    if (body.IsNull()) continue;
    if (!body.IsMap()) {
      throw ConfigError(origin + ": section '" + section + "'" + line_of(body) +
                        " must be a map of key: value");
    }
    for (const auto& entry : body) {
      const std::string key = key_name(entry.first, origin, "a key in section '" + section + "'");
      const Field* field = find_field(section, key);
      if (field == nullptr) {
        throw ConfigError(origin + ": unknown key '" + section + "." + key + "'" +
                          line_of(entry.first) + nearest_key_hint(section + "." + key));
      }
      if (!entry.second.IsScalar()) {
        throw ConfigError(origin + ": key '" + field->name() + "'" + line_of(entry.second) +
                          " must be a single " + type_name(*field) + " value");
      }
      set_field(config, *field, entry.second.Scalar(), origin + ": ");
    }
  }
  validate(config, origin);
  return config;
}

void apply_override(TrainConfig& config, const std::string& assignment, bool resuming) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError("--set '" + assignment + "': expected section.key=value");
  }
  const std::string name = assignment.substr(0, equals);
  const std::string value = assignment.substr(equals + 1);
  const Field* field = nullptr;
  const auto dot = name.find('.');
  if (dot != std::string::npos) {
    field = find_field(name.substr(0, dot), name.substr(dot + 1));
  } else {
    for (const Field& candidate : fields()) {
      if (name == candidate.key) {
        if (field != nullptr) {
          throw ConfigError("--set '" + assignment + "': key '" + name +
                            "' is ambiguous; write it as section.key");
        }
        field = &candidate;
      }
    }
  }
  if (field == nullptr) {
    throw ConfigError("--set '" + assignment + "': unknown key '" + name + "'" +
                      nearest_key_hint(name) + "; known keys: " + expected_keys_list());
  }
  static const std::vector<std::string> kSafeOnResume = {
      "output.log_every",        "output.sample_every",      "output.checkpoint_every",
      "output.keep_checkpoints", "output.keep_every_epochs", "train.device",
      "train.threads",           "train.cuda_graphs",        "data.workers",
      "data.prefetch",           "train.max_steps",          "distributed.backend",
      "distributed.timeout",     "distributed.check_every"};
  if (resuming &&
      std::find(kSafeOnResume.begin(), kSafeOnResume.end(), field->name()) == kSafeOnResume.end()) {
    throw ConfigError("--set '" + assignment + "': key '" + field->name() +
                      "' cannot change when resuming (the run's configuration is kept); only " +
                      "output.*_every, output.keep_checkpoints, train.device, train.threads, "
                      "train.cuda_graphs, " +
                      "train.max_steps, " +
                      "data.workers, data.prefetch, distributed.backend, distributed.timeout and "
                      "distributed.check_every can");
  }
  set_field(config, *field, value, "--set: ");
}

void validate(const TrainConfig& config, const std::string& origin) {
  const std::string prefix = origin + ": ";
  const auto& architectures = generator_architectures();
  const std::string generator = canonical_generator_name(config.generator_type);
  if (std::find(architectures.begin(), architectures.end(), generator) == architectures.end()) {
    throw ConfigError(prefix +
                      "key 'model.generator_type' must be one of unet, unet_128, "
                      "unet_256, resnet_6blocks, resnet_9blocks (or u-net, resnet), got '" +
                      config.generator_type + "'");
  }
  // Images are read as 1 (gray) or 3 (RGB) channels; input_nc / output_nc 0 means model.channels.
  auto check_channels = [&](const char* key, int64_t value, const char* alternative) {
    if (value != 1 && value != 3) {
      throw ConfigError(prefix + "key '" + key + "' must be 1 or 3" + alternative + ", got " +
                        std::to_string(value));
    }
  };
  check_channels("model.channels", config.channels, "");
  if (config.input_nc != 0)
    check_channels("model.input_nc", config.input_nc, " (or 0: model.channels)");
  if (config.output_nc != 0)
    check_channels("model.output_nc", config.output_nc, " (or 0: model.channels)");
  if (config.lambda_id > 0 && config.channels_a() != config.channels_b()) {
    throw ConfigError(prefix + "key 'train.lambda_id' must be 0 when domain A has " +
                      std::to_string(config.channels_a()) + " channel(s) and domain B " +
                      std::to_string(config.channels_b()) +
                      " (model.input_nc, model.output_nc): identity feeds each generator its "
                      "output domain's images");
  }
  const int64_t multiple = generator_size_multiple(generator);
  if (config.input_dim % multiple != 0) {
    throw ConfigError(prefix + "key 'model.input_dim' must be a multiple of " +
                      std::to_string(multiple) + " for generator " + generator + ", got " +
                      std::to_string(config.input_dim));
  }
  const auto& norms = norm_types();
  if (std::find(norms.begin(), norms.end(), config.norm) == norms.end()) {
    throw ConfigError(prefix + "key 'model.norm' must be instance, batch or none, got '" +
                      config.norm + "'");
  }
  if (config.disc_type != "patchgan" && config.disc_type != "pixel") {
    throw ConfigError(prefix + "key 'model.disc_type' must be patchgan or pixel, got '" +
                      config.disc_type + "'");
  }
  // The PatchGAN halves the image n_layers times and then applies two 4x4 stride-1 convs.
  // (Bounded first: shifting by 64 or more is undefined.)
  if (config.disc_type == "patchgan" && (config.disc_n_layers < 1 || config.disc_n_layers > 20 ||
                                         (config.input_dim >> config.disc_n_layers) - 2 < 1)) {
    throw ConfigError(prefix + "key 'model.disc_n_layers' = " +
                      std::to_string(config.disc_n_layers) + " leaves no patch at input_dim " +
                      std::to_string(config.input_dim) + "; use fewer layers or larger images");
  }
  if (config.load_size != 0 && config.load_size < config.input_dim) {
    throw ConfigError(prefix + "key 'data.load_size' must be 0 or >= model.input_dim (" +
                      std::to_string(config.input_dim) + "), got " +
                      std::to_string(config.load_size));
  }
  if (config.learning_rate <= 0) {
    throw ConfigError(prefix + "key 'train.learning_rate' must be > 0, got " +
                      format_double(config.learning_rate));
  }
  if (config.beta1 >= 1 || config.beta2 >= 1) {
    throw ConfigError(prefix + "keys 'train.beta1' and 'train.beta2' must be in [0, 1), got " +
                      format_double(config.beta1) + " and " + format_double(config.beta2));
  }
  if (config.epochs < 0 || config.decay_epochs < 0 ||
      (config.epochs == 0 && config.decay_epochs == 0)) {  // (their sum may overflow)
    throw ConfigError(prefix + "keys 'train.epochs' + 'train.decay_epochs' must be >= 1");
  }
  const auto& inits = init_types();
  if (std::find(inits.begin(), inits.end(), config.init_type) == inits.end()) {
    throw ConfigError(prefix +
                      "key 'model.init_type' must be normal, xavier, kaiming or orthogonal, got '" +
                      config.init_type + "'");
  }
  const auto& recipes = training_recipes();
  if (std::find(recipes.begin(), recipes.end(), config.recipe) == recipes.end()) {
    throw ConfigError(prefix + "key 'train.recipe' must be official or fast, got '" +
                      config.recipe + "'");
  }
  if (config.gan_mode != "lsgan" && config.gan_mode != "vanilla" && config.gan_mode != "wgangp") {
    throw ConfigError(prefix + "key 'train.gan_mode' must be lsgan, vanilla or wgangp, got '" +
                      config.gan_mode + "'");
  }
  for (const auto& [key, value] :
       {std::pair{"train.lambda_reconstr_a", config.lambda_reconstr_a},
        std::pair{"train.lambda_reconstr_b", config.lambda_reconstr_b}}) {
    if (value < 0 && value != -1) {
      throw ConfigError(prefix + "key '" + key + "' must be >= 0, or -1 for lambda_reconstr, got " +
                        format_double(value));
    }
  }
  if (config.cycle_weight_a() != config.cycle_weight_b() && config.lambda_id > 0 &&
      config.lambda_reconstr <= 0) {
    throw ConfigError(prefix +
                      "key 'train.lambda_reconstr' must be > 0 when lambda_reconstr_a and "
                      "lambda_reconstr_b differ and lambda_id > 0: each identity weight is "
                      "lambda_id x its cycle weight / lambda_reconstr");
  }
  const auto& policies = learning_rate_policies();
  if (std::find(policies.begin(), policies.end(), config.lr_policy) == policies.end()) {
    throw ConfigError(prefix +
                      "key 'train.lr_policy' must be linear, step, plateau or cosine, got '" +
                      config.lr_policy + "'");
  }
  if (config.lr_policy == "cosine" && config.epochs < 1) {
    throw ConfigError(prefix +
                      "key 'train.epochs' must be >= 1 with lr_policy cosine (the epochs it "
                      "anneals over), got " +
                      std::to_string(config.epochs));
  }
  const std::string& device = config.device;
  const bool device_ok = device == "auto" || device == "cpu" || device == "cuda" ||
                         (device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
                          std::all_of(device.begin() + 5, device.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; }));
  if (!device_ok) {
    throw ConfigError(prefix + "key 'train.device' must be auto, cpu, cuda or cuda:N, got '" +
                      device + "'");
  }
  if (config.precision != "fp32" && config.precision != "bf16") {
    throw ConfigError(prefix + "key 'train.precision' must be fp32 or bf16, got '" +
                      config.precision + "'");
  }
  const std::string& backend = config.distributed_backend;
  if (backend != "auto" && backend != "gloo" && backend != "nccl") {
    throw ConfigError(prefix + "key 'distributed.backend' must be auto, gloo or nccl, got '" +
                      backend + "'");
  }
  if (config.lr_scaling != "keep" && config.lr_scaling != "linear") {
    throw ConfigError(prefix + "key 'distributed.lr_scaling' must be keep or linear, got '" +
                      config.lr_scaling + "'");
  }
  const auto& modes = preprocess_modes();
  if (std::find(modes.begin(), modes.end(), config.preprocess) == modes.end()) {
    throw ConfigError(prefix +
                      "key 'data.preprocess' must be resize_and_crop, crop, scale_width, "
                      "scale_width_and_crop or none, got '" +
                      config.preprocess + "'");
  }
  if (config.keeps_image_shapes() && config.gan_mode == "wgangp" && config.lambda_gp > 0 &&
      config.pool_size > 0) {
    throw ConfigError(prefix + "key 'train.lambda_gp' must be 0 with data.preprocess " +
                      config.preprocess +
                      " and a history pool (train.pool_size > 0): the penalty mixes real images "
                      "with pooled fakes, which then differ in size");
  }
  if (config.direction != "AtoB" && config.direction != "BtoA") {
    throw ConfigError(prefix + "key 'data.direction' must be AtoB or BtoA, got '" +
                      config.direction + "'");
  }
  if (config.data_root.empty()) throw ConfigError(prefix + "key 'data.root' must not be empty");
  if (config.output_dir.empty()) throw ConfigError(prefix + "key 'output.dir' must not be empty");
}

std::string to_yaml(const TrainConfig& config) {
  std::ostringstream out;
  std::string section;
  for (const Field& field : fields()) {
    if (section != field.section) {
      section = field.section;
      out << section << ":\n";
    }
    std::string value = field_text(config, field);
    if (field.pointer.index() == 3) value = yaml_quote(value);
    out << "  " << field.key << ": " << value << "\n";
  }
  return out.str();
}

}  // namespace cyclegan
