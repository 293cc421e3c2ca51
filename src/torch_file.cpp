#include "cyclegan/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "cyclegan/atomic_file.h"
#include "cyclegan/errors.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// Pickle opcodes (Python's pickletools names them) that state_dict files use.
enum Opcode : uint8_t {
  kMark = 0x28,
  kEmptyTuple = 0x29,
  kStop = 0x2e,
  kPop = 0x30,
  kPopMark = 0x31,
  kDup = 0x32,
  kBinbytes = 0x42,
  kShortBinbytes = 0x43,
  kBinfloat = 0x47,
  kBinint = 0x4a,
  kBinint1 = 0x4b,
  kBinint2 = 0x4d,
  kNone = 0x4e,
  kBinpersid = 0x51,
  kReduce = 0x52,
  kBinstring = 0x54,
  kShortBinstring = 0x55,
  kBinunicode = 0x58,
  kEmptyList = 0x5d,
  kAppend = 0x61,
  kBuild = 0x62,
  kGlobal = 0x63,
  kDict = 0x64,
  kAppends = 0x65,
  kBinget = 0x68,
  kLongBinget = 0x6a,
  kList = 0x6c,
  kBinput = 0x71,
  kLongBinput = 0x72,
  kSetitem = 0x73,
  kTuple = 0x74,
  kSetitems = 0x75,
  kEmptyDict = 0x7d,
  kProto = 0x80,
  kNewobj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewtrue = 0x88,
  kNewfalse = 0x89,
  kLong1 = 0x8a,
  kShortBinunicode = 0x8c,
  kBinunicode8 = 0x8d,
  kBinbytes8 = 0x8e,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

// The subset of Python objects a state_dict pickle builds.
struct PyValue;
using Value = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kOpaque
  };
  Kind kind = Kind::kNone;
  int64_t integer = 0;  // kBool, kInt
  double number = 0;
  std::string text;          // kString (and bytes); kGlobal: "module.name"; kStorage: key
  std::vector<Value> items;  // kTuple, kList
  std::vector<std::pair<Value, Value>> entries;  // kDict
  // kStorage
  c10::ScalarType dtype = c10::ScalarType::Float;
  // kTensor: a view of a storage
  Value storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

Value make(PyValue::Kind kind) {
  auto value = std::make_shared<PyValue>();
  value->kind = kind;
  return value;
}

// The typed storage classes (module torch) that torch.save names for each element type.
const std::map<std::string, c10::ScalarType>& storage_types() {
  static const std::map<std::string, c10::ScalarType> kTypes = {
      {"FloatStorage", c10::ScalarType::Float}, {"DoubleStorage", c10::ScalarType::Double},
      {"HalfStorage", c10::ScalarType::Half},   {"BFloat16Storage", c10::ScalarType::BFloat16},
      {"LongStorage", c10::ScalarType::Long},   {"IntStorage", c10::ScalarType::Int},
      {"ShortStorage", c10::ScalarType::Short}, {"CharStorage", c10::ScalarType::Char},
      {"ByteStorage", c10::ScalarType::Byte},   {"BoolStorage", c10::ScalarType::Bool}};
  return kTypes;
}

c10::ScalarType storage_dtype(const std::string& type_name, const std::string& origin) {
  const auto dot = type_name.rfind('.');
  const auto found = storage_types().find(type_name.substr(dot == std::string::npos ? 0 : dot + 1));
  if (found == storage_types().end()) {
    throw CheckpointError(origin + ": unsupported tensor storage type '" + type_name + "'");
  }
  return found->second;
}

std::string storage_class(c10::ScalarType dtype, const std::string& origin) {
  for (const auto& [name, type] : storage_types()) {
    if (type == dtype) return name;
  }
  throw CheckpointError(origin + ": cannot write tensors of type " +
                        std::string(c10::toString(dtype)) + " for PyTorch");
}

int64_t as_int(const Value& value, const std::string& origin) {
  if (!value || (value->kind != PyValue::Kind::kInt && value->kind != PyValue::Kind::kBool)) {
    throw CheckpointError(origin + ": malformed tensor record (expected an integer)");
  }
  return value->integer;
}

std::vector<int64_t> as_ints(const Value& value, const std::string& origin) {
  if (!value || value->kind != PyValue::Kind::kTuple) {
    throw CheckpointError(origin + ": malformed tensor record (expected a tuple of integers)");
  }
  std::vector<int64_t> ints;
  for (const auto& item : value->items) ints.push_back(as_int(item, origin));
  return ints;
}

// A pickle virtual machine for the opcodes torch.save emits (protocols 2 to 5).
class Unpickler {
 public:
  Unpickler(const char* data, size_t size, std::string origin)
      : data_(data), size_(size), origin_(std::move(origin)) {}

  Value load() {
    while (true) {
      const auto opcode = static_cast<uint8_t>(read_byte());
      switch (opcode) {
        case kProto:
          read_byte();
          break;
        case kFrame:
          skip(8);
          break;
        case kStop:
          return pop();
        case kMark:
          marks_.push_back(stack_.size());
          break;
        case kNone:
          push(make(PyValue::Kind::kNone));
          break;
        case kNewtrue:
          push(boolean(true));
          break;
        case kNewfalse:
          push(boolean(false));
          break;
        case kBinint:
          push(integer(static_cast<int32_t>(read_le(4))));
          break;
        case kBinint1:
          push(integer(static_cast<uint8_t>(read_le(1))));
          break;
        case kBinint2:
          push(integer(static_cast<uint16_t>(read_le(2))));
          break;
        case kLong1:
          push(long1(static_cast<uint8_t>(read_byte())));
          break;
        case kBinfloat:
          push(binfloat());
          break;
        case kBinunicode:
          push(string(read_le(4)));
          break;
        case kShortBinunicode:
          push(string(read_le(1)));
          break;
        case kBinunicode8:
          push(string(read_le(8)));
          break;
        case kBinstring:
          push(string(read_le(4)));
          break;
        case kShortBinstring:
          push(string(read_le(1)));
          break;
        case kBinbytes:
          push(string(read_le(4)));
          break;
        case kShortBinbytes:
          push(string(read_le(1)));
          break;
        case kBinbytes8:
          push(string(read_le(8)));
          break;
        case kEmptyTuple:
          push(make(PyValue::Kind::kTuple));
          break;
        case kTuple:
          push(tuple(pop_to_mark()));
          break;
        case kTuple1:
          push(tuple(pop_n(1)));
          break;
        case kTuple2:
          push(tuple(pop_n(2)));
          break;
        case kTuple3:
          push(tuple(pop_n(3)));
          break;
        case kEmptyList:
          push(make(PyValue::Kind::kList));
          break;
        case kList: {
          auto list = make(PyValue::Kind::kList);
          list->items = pop_to_mark();
          push(list);
          break;
        }
        case kAppend: {
          Value item = pop();
          top(PyValue::Kind::kList)->items.push_back(item);
          break;
        }
        case kAppends: {
          auto items = pop_to_mark();
          auto& list = top(PyValue::Kind::kList)->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case kEmptyDict:
          push(make(PyValue::Kind::kDict));
          break;
        case kDict: {
          auto dict = make(PyValue::Kind::kDict);
          add_pairs(dict, pop_to_mark());
          push(dict);
          break;
        }
        case kSetitem: {
          Value value = pop();
          Value key = pop();
          add_pairs(top(PyValue::Kind::kDict), {key, value});
          break;
        }
        case kSetitems: {
          auto items = pop_to_mark();
          add_pairs(top(PyValue::Kind::kDict), items);
          break;
        }
        case kGlobal: {
          const std::string module = read_line();
          const std::string name = read_line();
          push(global(module + "." + name));
          break;
        }
        case kStackGlobal: {
          Value name = pop();
          Value module = pop();
          push(global(module->text + "." + name->text));
          break;
        }
        case kBinput:
          memo_[read_le(1)] = peek();
          break;
        case kLongBinput:
          memo_[read_le(4)] = peek();
          break;
        case kMemoize:
          memo_[memo_.size()] = peek();
          break;
        case kBinget:
          push(memo(read_le(1)));
          break;
        case kLongBinget:
          push(memo(read_le(4)));
          break;
        case kPop:
          pop();
          break;
        case kPopMark:
          pop_to_mark();
          break;
        case kDup:
          push(peek());
          break;
        case kBinpersid:
          push(persistent_load(pop()));
          break;
        case kReduce: {
          Value arguments = pop();
          Value callable = pop();
          push(reduce(callable, arguments));
          break;
        }
        case kNewobj: {
          pop();
          pop();
          push(make(PyValue::Kind::kOpaque));
          break;
        }
        case kBuild:
          pop();
          break;  // object state (e.g. a state_dict's _metadata) unused
        default: {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "0x%02x", opcode);
          throw CheckpointError(origin_ + ": unsupported pickle opcode " + hex +
                                " (not a PyTorch state_dict file?)");
        }
      }
    }
  }

  size_t position() const { return position_; }

 private:
  char read_byte() {
    if (position_ >= size_) throw truncated();
    return data_[position_++];
  }
  void skip(size_t count) {
    if (size_ - position_ < count) throw truncated();
    position_ += count;
  }
  uint64_t read_le(size_t bytes) {
    if (size_ - position_ < bytes) throw truncated();
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; ++i) {
      value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[position_ + i])) << (8 * i);
    }
    position_ += bytes;
    return value;
  }
  int64_t read_long(size_t bytes) {
    if (bytes > 8) throw CheckpointError(origin_ + ": integer too large in pickle");
    uint64_t value = read_le(bytes);
    if (bytes > 0 && bytes < 8 && (value >> (8 * bytes - 1)) & 1u) value |= ~0ull << (8 * bytes);
    return static_cast<int64_t>(value);
  }
  std::string read_line() {
    std::string line;
    for (char c = read_byte(); c != '\n'; c = read_byte()) line += c;
    return line;
  }
  CheckpointError truncated() const {
    return CheckpointError(origin_ + ": file is truncated or corrupt (pickle ends early)");
  }

  void push(Value value) { stack_.push_back(std::move(value)); }
  Value pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      throw CheckpointError(origin_ + ": malformed pickle (stack underflow)");
    }
    Value value = stack_.back();
    stack_.pop_back();
    return value;
  }
  Value peek() const {
    if (stack_.empty()) throw CheckpointError(origin_ + ": malformed pickle (empty stack)");
    return stack_.back();
  }
  Value top(PyValue::Kind kind) const {
    Value value = peek();
    if (value->kind != kind)
      throw CheckpointError(origin_ + ": malformed pickle (wrong container)");
    return value;
  }
  std::vector<Value> pop_n(size_t count) {
    if (stack_.size() < count) throw CheckpointError(origin_ + ": malformed pickle");
    std::vector<Value> items(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
    stack_.resize(stack_.size() - count);
    return items;
  }
  std::vector<Value> pop_to_mark() {
    if (marks_.empty()) throw CheckpointError(origin_ + ": malformed pickle (no mark)");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Value memo(uint64_t index) const {
    const auto found = memo_.find(index);
    if (found == memo_.end()) throw CheckpointError(origin_ + ": malformed pickle (bad memo)");
    return found->second;
  }
  void add_pairs(const Value& dict, const std::vector<Value>& items) {
    if (items.size() % 2 != 0) throw CheckpointError(origin_ + ": malformed pickle (odd dict)");
    for (size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }

  static Value boolean(bool value) {
    auto result = make(PyValue::Kind::kBool);
    result->integer = value;
    return result;
  }
  static Value integer(int64_t value) {
    auto result = make(PyValue::Kind::kInt);
    result->integer = value;
    return result;
  }
  // Integers wider than 64 bits (only torch.save's magic number) keep their raw bytes.
  Value long1(size_t bytes) {
    if (bytes <= 8) return integer(read_long(bytes));
    return string(bytes);
  }
  Value binfloat() {
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i)
      bits = (bits << 8) | static_cast<uint8_t>(read_byte());  // big-endian
    auto result = make(PyValue::Kind::kFloat);
    std::memcpy(&result->number, &bits, sizeof(bits));
    return result;
  }
  Value string(uint64_t length) {
    if (size_ - position_ < length) throw truncated();
    auto result = make(PyValue::Kind::kString);
    result->text.assign(data_ + position_, length);
    position_ += length;
    return result;
  }
  static Value tuple(std::vector<Value> items) {
    auto result = make(PyValue::Kind::kTuple);
    result->items = std::move(items);
    return result;
  }
  static Value global(const std::string& name) {
    auto result = make(PyValue::Kind::kGlobal);
    result->text = name;
    return result;
  }

  // ('storage', storage_type, key, location, numel[, view_metadata])
  Value persistent_load(const Value& id) {
    if (id->kind != PyValue::Kind::kTuple || id->items.size() < 5 ||
        id->items[0]->text != "storage" || id->items[1]->kind != PyValue::Kind::kGlobal) {
      throw CheckpointError(origin_ + ": unsupported persistent record (not a tensor storage)");
    }
    if (id->items.size() > 5 && id->items[5]->kind != PyValue::Kind::kNone) {
      throw CheckpointError(origin_ + ": storage views of legacy files are not supported");
    }
    auto storage = make(PyValue::Kind::kStorage);
    storage->dtype = storage_dtype(id->items[1]->text, origin_);
    storage->text = id->items[2]->text;
    storage->integer = as_int(id->items[4], origin_);  // element count
    return storage;
  }

  Value reduce(const Value& callable, const Value& arguments) {
    const std::string& name = callable->text;
    const auto& args = arguments->items;
    if (name == "collections.OrderedDict") return make(PyValue::Kind::kDict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (args.size() < 4 || args[0]->kind != PyValue::Kind::kStorage) {
        throw CheckpointError(origin_ + ": malformed tensor record");
      }
      auto tensor = make(PyValue::Kind::kTensor);
      tensor->storage = args[0];
      tensor->offset = as_int(args[1], origin_);
      tensor->sizes = as_ints(args[2], origin_);
      tensor->strides = as_ints(args[3], origin_);
      return tensor;
    }
    if (name == "torch._utils._rebuild_parameter" && !args.empty()) return args[0];
    // LibTorch's pickler tags typed containers; the value is the first argument.
    if (name == "torch.jit._pickle.restore_type_tag" && !args.empty()) return args[0];
    auto opaque = make(PyValue::Kind::kOpaque);
    opaque->text = name;
    return opaque;
  }

  const char* data_;
  size_t size_;
  size_t position_ = 0;
  std::string origin_;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Value> memo_;
};

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw CheckpointError(path.string() + ": cannot open file");
  return std::vector<char>((std::istreambuf_iterator<char>(stream)),
                           std::istreambuf_iterator<char>());
}

bool is_zip(const std::vector<char>& bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0;
}

at::Tensor materialize(const PyValue& spec, const std::map<std::string, at::Tensor>& storages,
                       const std::string& origin) {
  const auto found = storages.find(spec.storage->text);
  if (found == storages.end()) {
    throw CheckpointError(origin + ": tensor data record '" + spec.storage->text + "' is missing");
  }
  const at::Tensor& flat = found->second;
  // Elements the view reaches: none for an empty tensor, else up to its last element.
  int64_t needed = spec.offset + 1;
  for (size_t d = 0; d < spec.sizes.size() && d < spec.strides.size(); ++d) {
    needed += (spec.sizes[d] - 1) * spec.strides[d];
  }
  if (std::find(spec.sizes.begin(), spec.sizes.end(), 0) != spec.sizes.end()) needed = 0;
  if (spec.sizes.size() != spec.strides.size() || needed > flat.numel()) {
    throw CheckpointError(origin + ": tensor data record '" + spec.storage->text +
                          "' is shorter than its tensor (truncated file?)");
  }
  return flat.as_strided(spec.sizes, spec.strides, spec.offset).clone();
}

at::Tensor storage_from_bytes(const char* data, size_t bytes, const PyValue& storage,
                              const std::string& origin) {
  const auto element = static_cast<size_t>(c10::elementSize(storage.dtype));
  const auto numel = static_cast<size_t>(storage.integer);
  if (bytes < numel * element) {
    throw CheckpointError(origin + ": tensor data record '" + storage.text + "' is truncated (" +
                          std::to_string(bytes) + " bytes, expected " +
                          std::to_string(numel * element) + ")");
  }
  at::Tensor flat =
      torch::empty({static_cast<int64_t>(numel)}, torch::TensorOptions(storage.dtype));
  if (numel > 0) std::memcpy(flat.data_ptr(), data, numel * element);  // empty: no buffer at all
  return flat;
}

// The byte order a zip file's tensor data was written in: PyTorch >= 2.1 records it; older
// files have no record and are little-endian.
bool big_endian_data(caffe2::serialize::PyTorchStreamReader& reader, const std::string& origin) {
  if (!reader.hasRecord("byteorder")) return false;
  auto [data, size] = reader.getRecord("byteorder");
  const std::string order(static_cast<const char*>(data.get()), size);
  if (order == "little") return false;
  if (order == "big") return true;
  throw CheckpointError(origin + ": record 'byteorder' says '" + order +
                        "', expected 'little' or 'big'");
}

void reverse_element_bytes(at::Tensor& flat) {
  const auto element = static_cast<size_t>(flat.element_size());
  auto* bytes = static_cast<char*>(flat.data_ptr());
  for (size_t i = 0; i < static_cast<size_t>(flat.numel()); ++i) {
    std::reverse(bytes + i * element, bytes + (i + 1) * element);
  }
}

// Walks the unpickled object and collects every storage it references.
void collect_storages(const Value& value, std::map<std::string, Value>* storages) {
  if (!value) return;
  if (value->kind == PyValue::Kind::kTensor) {
    (*storages)[value->storage->text] = value->storage;
  }
  for (const auto& item : value->items) collect_storages(item, storages);
  for (const auto& [key, item] : value->entries) collect_storages(item, storages);
}

StateDict to_state_dict(const Value& root, const std::map<std::string, at::Tensor>& storages,
                        const std::string& origin, TorchFileInfo* info) {
  if (root->kind != PyValue::Kind::kDict) {
    throw CheckpointError(origin +
                          ": holds a pickled object, not a state_dict (a dict of tensors)");
  }
  StateDict weights;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != PyValue::Kind::kString) continue;
    if (value->kind == PyValue::Kind::kTensor) {
      weights.insert(key->text, materialize(*value, storages, origin));
    } else if (info != nullptr) {
      info->skipped_keys.push_back(key->text);
    }
  }
  return weights;
}

StateDict read_zip(const fs::path& path, TorchFileInfo* info) {
  const std::string origin = path.string();
  try {
    caffe2::serialize::PyTorchStreamReader reader(path.string());
    if (!reader.hasRecord("data.pkl")) {
      throw CheckpointError(origin + ": zip archive without data.pkl (not a torch.save file)");
    }
    auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    Unpickler unpickler(static_cast<const char*>(pickle.get()), pickle_size, origin);
    Value root = unpickler.load();
    std::map<std::string, Value> referenced;
    collect_storages(root, &referenced);
    const bool big_endian = big_endian_data(reader, origin);
    std::map<std::string, at::Tensor> storages;
    for (const auto& [key, storage] : referenced) {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record)) {
        throw CheckpointError(origin + ": tensor data record '" + record + "' is missing");
      }
      auto [data, size] = reader.getRecord(record);
      at::Tensor flat =
          storage_from_bytes(static_cast<const char*>(data.get()), size, *storage, origin);
      if (big_endian) reverse_element_bytes(flat);
      storages[key] = flat;
    }
    return to_state_dict(root, storages, origin, info);
  } catch (const c10::Error& e) {
    throw CheckpointError(
        origin + ": cannot read zip archive (truncated or corrupt): " + e.what_without_backtrace());
  }
}

StateDict read_legacy(const std::vector<char>& bytes, const fs::path& path, TorchFileInfo* info) {
  const std::string origin = path.string();
  // Legacy stream: magic number, protocol version, sys info, the object, storage keys, then
  // each storage as <int64 element count><raw data> in key order.
  size_t offset = 0;
  auto next_pickle = [&] {
    Unpickler unpickler(bytes.data() + offset, bytes.size() - offset, origin);
    Value value = unpickler.load();
    offset += unpickler.position();
    return value;
  };
  Value magic = next_pickle();
  // torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, an 80-bit LONG1, little-endian.
  static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  if (magic->kind != PyValue::Kind::kString || magic->text != kMagic) {
    throw CheckpointError(origin + ": not a PyTorch file (no torch.save magic number)");
  }
  next_pickle();  // protocol version
  next_pickle();  // sys info
  Value root = next_pickle();
  Value keys = next_pickle();
  if (keys->kind != PyValue::Kind::kList) throw CheckpointError(origin + ": malformed legacy file");
  std::map<std::string, Value> referenced;
  collect_storages(root, &referenced);
  std::map<std::string, at::Tensor> storages;
  for (const auto& key : keys->items) {
    const auto found = referenced.find(key->text);
    if (found == referenced.end()) {
      throw CheckpointError(origin + ": legacy file lists an unknown storage '" + key->text + "'");
    }
    if (bytes.size() - offset < 8) throw CheckpointError(origin + ": file is truncated");
    int64_t count = 0;
    std::memcpy(&count, bytes.data() + offset, 8);
    offset += 8;
    const size_t data_bytes =
        static_cast<size_t>(count) * static_cast<size_t>(c10::elementSize(found->second->dtype));
    if (count < 0 || bytes.size() - offset < data_bytes) {
      throw CheckpointError(origin + ": file is truncated (tensor data ends early)");
    }
    storages[key->text] =
        storage_from_bytes(bytes.data() + offset, data_bytes, *found->second, origin);
    offset += data_bytes;
  }
  return to_state_dict(root, storages, origin, info);
}

// Pickle protocol 2 (torch.save's default) with only the opcodes and classes that PyTorch's
// weights-only unpickler accepts: no floats, no SHORT_BINUNICODE (1.13's lacks both).
class Pickler {
 public:
  explicit Pickler(std::string origin) : origin_(std::move(origin)) {
    opcode(kProto);
    bytes_.push_back(2);
  }

  void boolean(bool value) { opcode(value ? kNewtrue : kNewfalse); }

  void integer(int64_t value) {
    if (value >= 0 && value <= 0xff) {
      opcode(kBinint1);
      little_endian(static_cast<uint64_t>(value), 1);
    } else if (value >= 0 && value <= 0xffff) {
      opcode(kBinint2);
      little_endian(static_cast<uint64_t>(value), 2);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
      opcode(kBinint);
      little_endian(static_cast<uint64_t>(value), 4);
    } else {
      opcode(kLong1);  // 8 bytes of two's complement
      bytes_.push_back(8);
      little_endian(static_cast<uint64_t>(value), 8);
    }
  }

  void string(const std::string& text) {
    opcode(kBinunicode);
    little_endian(text.size(), 4);
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }

  // A plain dict ({}) or, as Module.state_dict() returns, a collections.OrderedDict().
  void begin_dict(bool ordered) {
    if (ordered) {
      global("collections", "OrderedDict");
      opcode(kEmptyTuple);
      opcode(kReduce);
    } else {
      opcode(kEmptyDict);
    }
  }

  // Python's pickler sets a dict's items in batches of 1000 (SETITEMS), or one alone (SETITEM).
  template <typename Items, typename WriteItem>
  void dict_items(const Items& items, WriteItem write_item) {
    constexpr size_t kBatch = 1000;
    for (size_t start = 0; start < items.size(); start += kBatch) {
      const size_t end = std::min(items.size(), start + kBatch);
      if (end - start > 1) opcode(kMark);
      for (size_t i = start; i < end; ++i) write_item(items[i]);
      opcode(end - start > 1 ? kSetitems : kSetitem);
    }
  }

  void state_dict(const StateDict& weights, bool ordered) {
    begin_dict(ordered);
    dict_items(weights.items(), [this](const StateDict::Item& item) {
      string(item.key());
      tensor(item.value());
    });
  }

  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks), the
  // storage a persistent id ('storage', torch.FloatStorage, key, 'cpu', numel) whose data goes
  // to the record data/<key>.
  void tensor(const at::Tensor& value) {
    const at::Tensor data = value.detach().to(at::kCPU).contiguous();
    const std::string key = std::to_string(storages_.size());
    storages_.push_back(data);
    global("torch._utils", "_rebuild_tensor_v2");
    opcode(kMark);  // MARK: the arguments
    opcode(kMark);  // MARK: the persistent id
    string("storage");
    global("torch", storage_class(data.scalar_type(), origin_));
    string(key);
    string("cpu");
    integer(data.numel());
    opcode(kTuple);
    opcode(kBinpersid);
    integer(0);  // storage offset
    integers(data.sizes());
    integers(data.strides());
    boolean(false);    // requires_grad: a state_dict holds detached tensors
    begin_dict(true);  // no backward hooks
    opcode(kTuple);
    opcode(kReduce);
  }

  // The pickle (ending in STOP) and the tensors whose data the records data/0, data/1... hold.
  std::vector<char> finish() {
    opcode(kStop);
    return std::move(bytes_);
  }
  const std::vector<at::Tensor>& storages() const { return storages_; }

 private:
  void opcode(Opcode code) { bytes_.push_back(static_cast<char>(code)); }
  void little_endian(uint64_t value, size_t count) {
    for (size_t i = 0; i < count; ++i) bytes_.push_back(static_cast<char>(value >> (8 * i)));
  }

  // GLOBAL once per class, then BINGET of its memo slot, as Python's pickler does.
  void global(const std::string& module, const std::string& name) {
    const std::string full_name = module + "\n" + name + "\n";
    const auto found = memo_.find(full_name);
    if (found != memo_.end()) {
      opcode(found->second < 256 ? kBinget : kLongBinget);
      little_endian(found->second, found->second < 256 ? 1 : 4);
      return;
    }
    opcode(kGlobal);
    bytes_.insert(bytes_.end(), full_name.begin(), full_name.end());
    const uint32_t slot = static_cast<uint32_t>(memo_.size());
    memo_.emplace(full_name, slot);
    opcode(slot < 256 ? kBinput : kLongBinput);
    little_endian(slot, slot < 256 ? 1 : 4);
  }

  void integers(c10::IntArrayRef values) {
    if (values.empty()) {
      opcode(kEmptyTuple);
      return;
    }
    if (values.size() > 3) opcode(kMark);
    for (const int64_t value : values) integer(value);
    static constexpr Opcode kTupleOf[] = {kEmptyTuple, kTuple1, kTuple2, kTuple3};
    opcode(values.size() > 3 ? kTuple : kTupleOf[values.size()]);
  }

  std::string origin_;
  std::vector<char> bytes_;
  std::vector<at::Tensor> storages_;
  std::map<std::string, uint32_t> memo_;
};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the byteorder record and the reader's byte swap assume a little-endian host");

// The zip archive torch.save writes around a pickle: archive/data.pkl, archive/byteorder,
// archive/data/<key> (each 64-byte aligned), archive/version; then written atomically.
void write_archive(const fs::path& path, Pickler& pickler) {
  const std::string origin = path.string();
  const std::vector<char> pickle = pickler.finish();
  std::vector<char> archive;
  try {
    caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* data, size_t size) {
      const char* bytes = static_cast<const char*>(data);
      archive.insert(archive.end(), bytes, bytes + size);
      return size;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    const std::string byte_order = "little";
    writer.writeRecord("byteorder", byte_order.data(), byte_order.size());
    for (size_t i = 0; i < pickler.storages().size(); ++i) {
      const at::Tensor& data = pickler.storages()[i];
      writer.writeRecord("data/" + std::to_string(i), data.data_ptr(), data.nbytes());
    }
    writer.writeEndOfFile();
  } catch (const c10::Error& e) {
    throw CheckpointError(origin + ": cannot serialise: " + e.what_without_backtrace());
  }
  std::string error;
  if (!write_file_atomically(path, archive.data(), archive.size(), &error)) {
    throw CheckpointError(origin + ": cannot write: " + error);
  }
}

}  // namespace

void write_torch_file(const fs::path& path, const StateDict& weights) {
  Pickler pickler(path.string());
  pickler.state_dict(weights, /*ordered=*/true);
  write_archive(path, pickler);
}

void write_torch_file(const fs::path& path, const TorchFileFields& fields) {
  Pickler pickler(path.string());
  pickler.begin_dict(/*ordered=*/false);
  pickler.dict_items(fields, [&pickler](const std::pair<std::string, TorchFileField>& field) {
    pickler.string(field.first);
    std::visit(
        [&pickler](const auto& value) {
          using Value = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<Value, bool>) {
            pickler.boolean(value);
          } else if constexpr (std::is_same_v<Value, int64_t>) {
            pickler.integer(value);
          } else if constexpr (std::is_same_v<Value, std::string>) {
            pickler.string(value);
          } else {
            pickler.state_dict(value, /*ordered=*/false);
          }
        },
        field.second);
  });
  write_archive(path, pickler);
}

StateDict read_torch_file(const fs::path& path, TorchFileInfo* info) {
  const std::vector<char> bytes = read_bytes(path);
  if (bytes.empty()) throw CheckpointError(path.string() + ": file is empty");
  if (is_zip(bytes)) {
    if (info != nullptr) info->format = "zip";
    return read_zip(path, info);
  }
  if (static_cast<uint8_t>(bytes[0]) != kProto) {
    throw CheckpointError(path.string() +
                          ": not a PyTorch checkpoint (neither a zip archive nor a "
                          "pickle)");
  }
  if (info != nullptr) info->format = "legacy";
  return read_legacy(bytes, path, info);
}

}  // namespace cyclegan
