#include "cyclegan/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "cyclegan/atomic_file.h"
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
  StateDict weights;
  for (const auto& item : module.named_parameters()) weights.insert(item.key(), item.value());
  for (const auto& item : module.named_buffers()) weights.insert(item.key(), item.value());
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
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& item : state_dict(module)) {
    tensors.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  }
  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert("format", std::string(kFormatName));
  file.insert("format_version", kCheckpointFormatVersion);
  file.insert("kind", info.kind);
  file.insert("architecture", info.architecture);
  file.insert("in_channels", info.in_channels);
  file.insert("out_channels", info.out_channels);
  file.insert("filters", info.filters);
  file.insert("n_layers", info.n_layers);
  file.insert("dropout", info.dropout);
  file.insert("image_size", info.image_size);
  file.insert("step", info.step);
  file.insert("direction", info.direction);
  file.insert("state_dict", tensors);
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(file));
  } catch (const c10::Error& e) {
    throw CheckpointError(path.string() +
                          ": cannot serialise checkpoint: " + e.what_without_backtrace());
  }
  std::string error;
  if (!write_file_atomically(path, bytes.data(), bytes.size(), &error)) {
    throw CheckpointError(path.string() + ": cannot write checkpoint: " + error);
  }
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

LoadedGenerator load_generator(const fs::path& path) {
  NetworkFile file = read_network_file(path);
  if (file.info.kind != "generator") {
    throw CheckpointError(path.string() + ": holds a " + file.info.kind +
                          ", a generator was expected (g_AB.pt or g_BA.pt)");
  }
  LoadedGenerator loaded;
  loaded.info = file.info;
  try {
    loaded.generator = make_generator(GeneratorOptions()
                                          .architecture(file.info.architecture)
                                          .in_channels(file.info.in_channels)
                                          .out_channels(file.info.out_channels)
                                          .ngf(file.info.filters)
                                          .dropout(file.info.dropout));
  } catch (const std::exception& e) {
    throw CheckpointError(path.string() + ": cannot build the network it describes: " + e.what());
  }
  load_state_dict(*loaded.generator, file.weights, path.string());
  loaded.generator->eval();
  return loaded;
}

}  // namespace cyclegan
