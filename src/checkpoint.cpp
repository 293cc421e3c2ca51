#include "cyclegan/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "cyclegan/errors.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormatName = "cyclegan";

std::string shape_text(const at::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

// The field `key` of a checkpoint dict, or a null IValue when absent.
c10::IValue field(const c10::impl::GenericDict& dict, const std::string& key) {
  const auto found = dict.find(c10::IValue(key));
  return found == dict.end() ? c10::IValue() : found->value();
}

int64_t get_int(const c10::impl::GenericDict& dict, const std::string& key,
                const std::string& origin) {
  const c10::IValue value = field(dict, key);
  if (!value.isInt()) {
    throw CheckpointError(origin + ": field '" + key + "' is missing or not an integer");
  }
  return value.toInt();
}

std::string get_string(const c10::impl::GenericDict& dict, const std::string& key,
                       const std::string& origin) {
  const c10::IValue value = field(dict, key);
  if (!value.isString()) {
    throw CheckpointError(origin + ": field '" + key + "' is missing or not a string");
  }
  return value.toStringRef();
}

}  // namespace

StateDict state_dict(const torch::nn::Module& module) {
  // PyTorch's order: each module's own parameters, then its own buffers, modules in pre-order.
  StateDict weights;
  auto add_own = [&](const std::string& prefix, const torch::nn::Module& owner) {
    for (const auto& item : owner.named_parameters(/*recurse=*/false))
      weights.insert(prefix + item.key(), item.value());
    for (const auto& item : owner.named_buffers(/*recurse=*/false))
      weights.insert(prefix + item.key(), item.value());
  };
  add_own("", module);
  for (const auto& item : module.named_modules("", /*include_self=*/false))
    add_own(item.key() + ".", *item.value());
  return weights;
}

void load_state_dict(torch::nn::Module& module, const StateDict& weights,
                     const std::string& origin) {
  StateDict expected = state_dict(module);
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
  for (const auto& item : expected) {
    if (!weights.contains(item.key())) missing.push_back(item.key());
  }
  for (const auto& item : weights) {
    if (!expected.contains(item.key())) unexpected.push_back(item.key());
  }
  if (!missing.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& keys) {
      std::string text;
      const size_t shown = std::min<size_t>(keys.size(), 6);
      for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + keys[i];
      if (keys.size() > shown) text += ", ... (" + std::to_string(keys.size()) + " in all)";
      return text;
    };
    std::string message = origin + ": weights do not fit the network";
    if (!missing.empty()) message += "; missing keys: " + list(missing);
    if (!unexpected.empty()) message += "; unexpected keys: " + list(unexpected);
    throw CheckpointError(message);
  }
  for (const auto& item : expected) {
    const at::Tensor& source = weights[item.key()];
    if (!source.sizes().equals(item.value().sizes())) {
      throw CheckpointError(origin + ": key '" + item.key() + "' has shape " + shape_text(source) +
                            ", the network expects " + shape_text(item.value()));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& item : expected) item.value().copy_(weights[item.key()]);
}

void save_network(const fs::path& path, const torch::nn::Module& module, const NetworkInfo& info) {
  write_torch_file(path, TorchFileFields{{"format", std::string(kFormatName)},
                                         {"format_version", kCheckpointFormatVersion},
                                         {"kind", info.kind},
                                         {"architecture", info.architecture},
                                         {"in_channels", info.in_channels},
                                         {"out_channels", info.out_channels},
                                         {"filters", info.filters},
                                         {"n_layers", info.n_layers},
                                         {"dropout", info.dropout},
                                         {"norm", info.norm},
                                         {"input_skip", info.input_skip},
                                         {"image_size", info.image_size},
                                         {"step", info.step},
                                         {"direction", info.direction},
                                         {"state_dict", state_dict(module)}});
}

void export_state_dict(const fs::path& path, const torch::nn::Module& module) {
  write_torch_file(path, state_dict(module));
}

NetworkFile read_network_file(const fs::path& path) {
  const std::string origin = path.string();
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw CheckpointError(origin + ": cannot open checkpoint file");
  std::vector<char> bytes((std::istreambuf_iterator<char>(stream)),
                          std::istreambuf_iterator<char>());
  if (bytes.empty()) throw CheckpointError(origin + ": checkpoint file is empty");
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw CheckpointError(origin +
                          ": not a cyclegan checkpoint (cannot unpickle: truncated or another "
                          "kind of file)");
  }
  if (!value.isGenericDict()) throw CheckpointError(origin + ": not a cyclegan checkpoint");
  const c10::impl::GenericDict file = value.toGenericDict();
  const c10::IValue format = field(file, "format");
  if (!format.isString() || format.toStringRef() != kFormatName) {
    throw CheckpointError(origin + ": not a cyclegan checkpoint (no 'format: cyclegan' field)");
  }
  const int64_t version = get_int(file, "format_version", origin);
  if (version > kCheckpointFormatVersion) {
    throw CheckpointError(origin + ": checkpoint format version " + std::to_string(version) +
                          " is newer than this cyclegan reads (" +
                          std::to_string(kCheckpointFormatVersion) + "); upgrade cyclegan");
  }
  NetworkFile result;
  NetworkInfo& info = result.info;
  info.kind = get_string(file, "kind", origin);
  info.architecture = get_string(file, "architecture", origin);
  info.in_channels = get_int(file, "in_channels", origin);
  info.out_channels = get_int(file, "out_channels", origin);
  info.filters = get_int(file, "filters", origin);
  info.n_layers = get_int(file, "n_layers", origin);
  info.image_size = get_int(file, "image_size", origin);
  info.step = get_int(file, "step", origin);
  info.direction = get_string(file, "direction", origin);
  const c10::IValue dropout = field(file, "dropout");
  if (!dropout.isBool()) {
    throw CheckpointError(origin + ": field 'dropout' is missing or not a boolean");
  }
  info.dropout = dropout.toBool();
  // Absent from files written before model.norm existed, which all used instance norm.
  const c10::IValue norm = field(file, "norm");
  if (!norm.isNone()) {
    const auto& norms = norm_types();
    if (!norm.isString() ||
        std::find(norms.begin(), norms.end(), norm.toStringRef()) == norms.end()) {
      throw CheckpointError(origin + ": field 'norm' is not instance, batch or none");
    }
    info.norm = norm.toStringRef();
  }
  const c10::IValue input_skip = field(file, "input_skip");
  if (!input_skip.isNone()) {
    if (!input_skip.isBool())
      throw CheckpointError(origin + ": field 'input_skip' is not a boolean");
    info.input_skip = input_skip.toBool();
  }
  const c10::IValue weights = field(file, "state_dict");
  if (!weights.isGenericDict()) throw CheckpointError(origin + ": field 'state_dict' is missing");
  for (const auto& entry : weights.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw CheckpointError(origin + ": 'state_dict' holds something other than named tensors");
    }
    result.weights.insert(entry.key().toStringRef(), entry.value().toTensor());
  }
  return result;
}

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const at::Tensor* find_weight(const StateDict& weights, const std::string& key) {
  return weights.contains(key) ? &weights[key] : nullptr;
}

std::string first_keys(const StateDict& weights) {
  std::string text;
  size_t shown = 0;
  for (const auto& item : weights) {
    if (shown++ == 4) break;
    text += (text.empty() ? "" : ", ") + item.key();
  }
  return text.empty() ? "(no tensors)" : text;
}

GeneratorPtr build_generator(const GeneratorOptions& options, const std::string& origin) {
  try {
    return make_generator(options);
  } catch (const std::exception& e) {
    throw CheckpointError(origin + ": cannot build the network it describes: " + e.what());
  }
}

// The official norm of a generator's weights: BatchNorm layers keep running statistics beside a
// scale; without them, the convolutions feeding the norms have a bias only with instance norm
// (`first_conv_bias`: the first such convolution's bias key, empty when biases tell nothing).
std::string infer_norm(const StateDict& weights, const std::string& first_conv_bias) {
  const std::string statistic = ".running_mean";
  for (const auto& item : weights) {
    if (ends_with(item.key(), statistic) &&
        weights.contains(item.key().substr(0, item.key().size() - statistic.size()) + ".weight"))
      return "batch";
  }
  return first_conv_bias.empty() || weights.contains(first_conv_bias) ? "instance" : "none";
}

}  // namespace

GeneratorOptions infer_generator_options(const StateDict& weights, const std::string& origin) {
  GeneratorOptions options;
  if (const at::Tensor* first = find_weight(weights, "model.1.weight");
      first != nullptr && first->dim() == 4 && first->size(2) == 7) {
    // Official ResnetGenerator: model.1 is the 7x7 stem conv, model.N.conv_block.* the blocks.
    std::set<std::string> blocks;
    int64_t last_index = 0;
    bool dropout = false;
    for (const auto& item : weights) {
      const std::string& key = item.key();
      const auto block_at = key.find(".conv_block.");
      if (block_at != std::string::npos) blocks.insert(key.substr(0, block_at));
      // With dropout the second conv sits at index 6 (a BatchNorm does without it).
      if (ends_with(key, "conv_block.6.weight") && item.value().dim() == 4) dropout = true;
      if (key.rfind("model.", 0) == 0 && block_at == std::string::npos) {
        last_index = std::max<int64_t>(last_index, std::stoll(key.substr(6, key.find('.', 6) - 6)));
      }
    }
    if (blocks.size() != 6 && blocks.size() != 9) {
      throw CheckpointError(origin + ": a ResNet generator with " + std::to_string(blocks.size()) +
                            " residual blocks; resnet_6blocks and resnet_9blocks are supported");
    }
    const at::Tensor* last =
        find_weight(weights, "model." + std::to_string(last_index) + ".weight");
    options.architecture(blocks.size() == 6 ? "resnet_6blocks" : "resnet_9blocks")
        .ngf(first->size(0))
        .in_channels(first->size(1))
        .out_channels(last != nullptr ? last->size(0) : 3)
        .dropout(dropout)
        .norm(infer_norm(weights, "model.1.bias"));
    return options;
  }
  if (const at::Tensor* first = find_weight(weights, "model.model.0.weight"); first != nullptr) {
    // Official UnetGenerator: every level's down conv but the outermost ends in model.1.weight.
    int64_t levels = 1;
    for (const auto& item : weights) {
      if (ends_with(item.key(), ".model.1.weight")) ++levels;
    }
    if (levels != 7 && levels != 8) {
      throw CheckpointError(origin + ": a U-Net generator with " + std::to_string(levels) +
                            " levels; unet_128 (7) and unet_256 (8) are supported");
    }
    const at::Tensor* last = find_weight(weights, "model.model.3.weight");
    options.architecture(levels == 7 ? "unet_128" : "unet_256")
        .ngf(first->size(0))
        .in_channels(first->size(1))
        .out_channels(last != nullptr ? last->size(1) : 3)
        .norm(infer_norm(weights, "model.model.0.bias"));
    return options;
  }
  if (const at::Tensor* first = find_weight(weights, "down1.0.weight"); first != nullptr) {
    const at::Tensor* last = find_weight(weights, "output.2.weight");
    // Its convolutions keep their biases: instance and none cannot be told apart.
    options.architecture("unet")
        .ngf(first->size(0))
        .in_channels(first->size(1))
        .out_channels(last != nullptr ? last->size(0) : 3)
        .norm(infer_norm(weights, ""));
    return options;
  }
  if (const at::Tensor* first = find_weight(weights, "model.0.weight");
      first != nullptr && first->dim() == 4 && first->size(2) == 4) {
    throw CheckpointError(origin +
                          ": holds a PatchGAN discriminator (net_D), a generator was "
                          "expected (net_G_A / net_G_B, g_AB.pt / g_BA.pt)");
  }
  if (const at::Tensor* first = find_weight(weights, "net.0.weight");
      first != nullptr && first->dim() == 4 && first->size(2) == 1) {
    throw CheckpointError(origin +
                          ": holds a PixelGAN discriminator (net_D), a generator was "
                          "expected (net_G_A / net_G_B, g_AB.pt / g_BA.pt)");
  }
  throw CheckpointError(origin + ": not a known generator layout (first keys: " +
                        first_keys(weights) + "); pass --arch to say which it is");
}

LoadedGenerator load_generator(const fs::path& path, const GeneratorOverrides& overrides) {
  const std::string origin = path.string();
  LoadedGenerator loaded;
  TorchFileInfo torch_info;
  StateDict raw = read_torch_file(path, &torch_info);
  const bool ours = std::find(torch_info.skipped_keys.begin(), torch_info.skipped_keys.end(),
                              "format") != torch_info.skipped_keys.end() &&
                    raw.is_empty();
  if (ours) {
    NetworkFile file = read_network_file(path);
    if (file.info.kind != "generator") {
      throw CheckpointError(origin + ": holds a " + file.info.kind +
                            ", a generator was expected (g_AB.pt or g_BA.pt)");
    }
    // Our files describe themselves; an override that disagrees is a mistake worth saying.
    if (!overrides.architecture.empty() &&
        canonical_generator_name(overrides.architecture) != file.info.architecture) {
      throw CheckpointError(origin + ": holds a " + file.info.architecture + " generator, not " +
                            overrides.architecture +
                            " (--arch); cyclegan files describe themselves: drop --arch");
    }
    if (overrides.ngf > 0 && overrides.ngf != file.info.filters) {
      throw CheckpointError(origin + ": holds a generator with " +
                            std::to_string(file.info.filters) + " filters, not " +
                            std::to_string(overrides.ngf) +
                            " (--ngf); cyclegan files describe themselves: drop --ngf");
    }
    loaded.info = file.info;
    loaded.source_format = "cyclegan";
    loaded.generator = build_generator(GeneratorOptions()
                                           .architecture(file.info.architecture)
                                           .in_channels(file.info.in_channels)
                                           .out_channels(file.info.out_channels)
                                           .ngf(file.info.filters)
                                           .dropout(file.info.dropout)
                                           .norm(file.info.norm)
                                           .input_skip(file.info.input_skip),
                                       origin);
    load_state_dict(*loaded.generator, file.weights, origin);
    loaded.generator->eval();
    return loaded;
  }

  loaded.source_format = "pytorch " + torch_info.format;
  // Checkpoints saved before PyTorch 0.4 carry running statistics on InstanceNorm layers; they
  // mean nothing for affine-free InstanceNorm, as the official loader also drops them. A
  // BatchNorm layer's (beside its scale, `weight`) are kept: eval mode normalises with them.
  StateDict weights;
  int64_t ignored = 0;
  for (const auto& item : raw) {
    const std::string& key = item.key();
    const auto layer_end = key.rfind('.');
    const std::string suffix = layer_end == std::string::npos ? key : key.substr(layer_end);
    if ((suffix == ".running_mean" || suffix == ".running_var" ||
         suffix == ".num_batches_tracked") &&
        !raw.contains(key.substr(0, layer_end) + ".weight")) {
      ++ignored;
      continue;
    }
    weights.insert(key, item.value());
  }
  GeneratorOptions options;
  if (overrides.architecture.empty()) {
    options = infer_generator_options(weights, origin);
    loaded.note = "inferred " + options.architecture() + ", ngf " + std::to_string(options.ngf()) +
                  ", " + std::to_string(options.in_channels()) + "->" +
                  std::to_string(options.out_channels()) + " channels" +
                  (options.dropout() ? ", dropout" : "") +
                  (options.norm() != "instance" ? ", " + options.norm() + " norm" : "");
  } else {
    options.architecture(canonical_generator_name(overrides.architecture));
    try {
      const GeneratorOptions guess = infer_generator_options(weights, origin);
      options.in_channels(guess.in_channels()).out_channels(guess.out_channels()).ngf(guess.ngf());
      options.dropout(guess.dropout()).norm(guess.norm());
    } catch (const CheckpointError&) {
      // The user named the architecture; load_state_dict will say what does not fit.
    }
  }
  if (overrides.ngf > 0) options.ngf(overrides.ngf);
  if (ignored > 0) {
    loaded.note += (loaded.note.empty() ? "" : "; ") + std::string("ignored ") +
                   std::to_string(ignored) + " InstanceNorm running-statistics entries";
  }
  loaded.generator = build_generator(options, origin);
  load_state_dict(*loaded.generator, weights, origin);
  loaded.generator->eval();
  loaded.info.kind = "generator";
  loaded.info.architecture = options.architecture();
  loaded.info.in_channels = options.in_channels();
  loaded.info.out_channels = options.out_channels();
  loaded.info.filters = options.ngf();
  loaded.info.dropout = options.dropout();
  loaded.info.norm = options.norm();
  return loaded;
}

fs::path checkpoint_path(const fs::path& run_dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step_%08ld.pt", static_cast<long>(step));
  return run_dir / "checkpoints" / name;
}

int64_t checkpoint_step(const fs::path& path) {
  const std::string name = path.filename().string();
  if (name.size() < 9 || name.rfind("step_", 0) != 0 || path.extension() != ".pt") return -1;
  const std::string digits = name.substr(5, name.size() - 8);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

std::vector<fs::path> list_checkpoints(const fs::path& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code error;
  for (fs::directory_iterator it(run_dir / "checkpoints", error), end; !error && it != end;
       it.increment(error)) {
    const int64_t step = checkpoint_step(it->path());
    if (step >= 0 && it->is_regular_file(error)) found.emplace_back(step, it->path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  std::vector<fs::path> paths;
  for (auto& item : found) paths.push_back(std::move(item.second));
  return paths;
}

}  // namespace cyclegan
