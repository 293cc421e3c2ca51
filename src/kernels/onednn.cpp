#include "onednn.h"

#include "channel_blocks.h"
#include "weight_packing.h"

#ifdef CYCLEGAN_HAVE_DNNL

#include <ATen/ATen.h>

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace cyclegan::onednn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::desc any_layout(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, Layout::any);
}

memory plain(const at::Tensor& tensor, const memory::dims& dims, Layout layout) {
  return memory({dims, memory::data_type::f32, layout}, cpu_engine(), tensor.data_ptr());
}

memory scratch(const memory::desc& produced, at::Tensor& storage) {
  storage = at::empty({static_cast<int64_t>(produced.get_size())}, at::kByte);
  return memory(produced, cpu_engine(), storage.data_ptr());
}

memory in_layout(const memory& source, const memory::desc& wanted, at::Tensor& storage,
                 dnnl::stream& stream) {
  if (source.get_desc() == wanted) return source;
  memory target = scratch(wanted, storage);
  reorder(source, target, stream);
  return target;
}

namespace {

// What tells two layouts apart: dims, data type and (for blocked formats) strides and blocks.
// Equal descriptors hash equally; a collision only costs a comparison.
std::size_t layout_hash(const memory::desc& layout) {
  const dnnl_memory_desc_t& data = layout.data;
  std::size_t hash = static_cast<std::size_t>(data.ndims) * 31 + data.data_type;
  const auto mix = [&hash](int64_t value) {
    hash ^= std::hash<int64_t>()(value) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  };
  mix(data.format_kind);
  mix(data.offset0);
  for (int d = 0; d < data.ndims; ++d) mix(data.dims[d]);
  if (data.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& blocking = data.format_desc.blocking;
    for (int d = 0; d < data.ndims; ++d) mix(blocking.strides[d]);
    for (int b = 0; b < blocking.inner_nblks; ++b)
      mix(blocking.inner_blks[b] * 16 + blocking.inner_idxs[b]);
  }
  return hash;
}

}  // namespace

std::optional<weight_packing::Bf16Layout> pair_blocked_bf16(const memory::desc& layout) {
  const dnnl_memory_desc_t& data = layout.data;
  if (data.ndims != 4 || data.data_type != dnnl_bf16 || data.format_kind != dnnl_blocked ||
      data.offset0 != 0 || data.extra.flags != 0) {
    return std::nullopt;
  }
  const dnnl_dims_t& dims = data.dims;
  for (int d = 0; d < 4; ++d) {
    if (data.padded_dims[d] != dims[d] || data.padded_offsets[d] != 0) return std::nullopt;
  }
  if (dims[0] % 16 != 0 || dims[1] % 16 != 0) return std::nullopt;
  const dnnl_blocking_desc_t& blocking = data.format_desc.blocking;
  if (blocking.inner_nblks != 3 || blocking.inner_blks[0] != 8 || blocking.inner_blks[1] != 16 ||
      blocking.inner_blks[2] != 2 || blocking.inner_idxs[0] != blocking.inner_idxs[2] ||
      blocking.inner_idxs[0] + blocking.inner_idxs[1] != 1) {
    return std::nullopt;
  }
  const int64_t block = 256;
  const int64_t taps = dims[2] * dims[3];
  if (blocking.strides[3] != block || blocking.strides[2] != dims[3] * block) return std::nullopt;
  const int64_t a_blocks = dims[0] / 16;
  const int64_t b_blocks = dims[1] / 16;
  bool input_blocks_outer;
  if (blocking.strides[1] == taps * block && blocking.strides[0] == b_blocks * taps * block) {
    input_blocks_outer = false;
  } else if (blocking.strides[0] == taps * block &&
             blocking.strides[1] == a_blocks * taps * block) {
    input_blocks_outer = true;
  } else {
    return std::nullopt;
  }
  using weight_packing::Paired;
  return weight_packing::Bf16Layout{
      input_blocks_outer, blocking.inner_idxs[0] == 0 ? Paired::kOutputs : Paired::kInputs};
}

namespace {

// The reorders our own kernels do faster than oneDNN's: activations between LibTorch's layout
// and blocks of 16 channels (channel_blocks), 4x4 float32 weights into bf16 blocks and float32
// gradients out of "ABcd16b16a" blocks (weight_packing).
bool reordered_by_own_kernels(const memory& source, const memory& target) {
  const memory::desc from = source.get_desc();
  const memory::desc to = target.get_desc();
  const memory::dims dims = from.dims();
  if (dims.size() != 4 || dims[1] % 16 != 0 || to.dims() != dims) return false;
  using Type = memory::data_type;
  const auto is = [&dims](const memory::desc& layout, Type type, Layout tag) {
    return layout == memory::desc(dims, type, tag);
  };
  const void* in = source.get_data_handle();
  void* out = target.get_data_handle();
  const channel_blocks::Images images{dims[0], dims[1], dims[2] * dims[3]};
  if (is(from, Type::f32, Layout::abcd) && channel_blocks::float_available()) {
    if (is(to, Type::f32, Layout::aBcd16b)) {
      channel_blocks::to_blocks(static_cast<const float*>(in), images, static_cast<float*>(out));
      return true;
    }
    if (is(to, Type::bf16, Layout::aBcd16b) && channel_blocks::bf16_available()) {
      channel_blocks::to_blocks_bf16(static_cast<const float*>(in), images,
                                     static_cast<uint16_t*>(out));
      return true;
    }
  }
  if (is(from, Type::f32, Layout::aBcd16b) && is(to, Type::f32, Layout::abcd) &&
      channel_blocks::float_available()) {
    channel_blocks::from_blocks(static_cast<const float*>(in), images, static_cast<float*>(out));
    return true;
  }

  if (dims[2] != 4 || dims[3] != 4 || dims[0] % 16 != 0) return false;
  if (is(from, Type::f32, Layout::ABcd16b16a) && is(to, Type::f32, Layout::abcd) &&
      weight_packing::float_available()) {
    weight_packing::unblock_float(static_cast<const float*>(in), dims[0], dims[1],
                                  static_cast<float*>(out));
    return true;
  }
  const bool inputs_outer = is(from, Type::f32, Layout::bacd);
  if (!(inputs_outer || is(from, Type::f32, Layout::abcd)) || !weight_packing::bf16_available()) {
    return false;
  }
  const std::optional<weight_packing::Bf16Layout> layout = pair_blocked_bf16(to);
  if (!layout) return false;
  weight_packing::pack_bf16({static_cast<const float*>(in), dims[0], dims[1], inputs_outer},
                            /*five_tap=*/false, *layout, static_cast<uint16_t*>(out));
  return true;
}

struct KeptReorder {
  memory::desc source;
  memory::desc target;
  dnnl::reorder primitive;
};

}  // namespace

void reorder(const memory& source, const memory& target, dnnl::stream& stream) {
  if (reordered_by_own_kernels(source, target)) return;
  // A training step's shapes need a few dozen; translating images of ever new sizes would add a
  // few per size, so the lot is dropped whenever it reaches kMostKept.
  constexpr std::size_t kMostKept = 512;
  static std::mutex mutex;
  static std::unordered_map<std::size_t, std::vector<KeptReorder>> kept;
  static std::size_t kept_count = 0;
  const memory::desc source_layout = source.get_desc();
  const memory::desc target_layout = target.get_desc();
  const std::size_t key = layout_hash(source_layout) * 1000003 ^ layout_hash(target_layout);
  dnnl::reorder primitive;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    for (const KeptReorder& candidate : kept[key]) {
      if (candidate.source == source_layout && candidate.target == target_layout) {
        primitive = candidate.primitive;
        break;
      }
    }
    if (!primitive) {
      primitive = dnnl::reorder(source, target);
      if (kept_count >= kMostKept) {
        kept.clear();
        kept_count = 0;
      }
      kept[key].push_back(KeptReorder{source_layout, target_layout, primitive});
      ++kept_count;
    }
  }
  primitive.execute(stream, const_cast<memory&>(source), const_cast<memory&>(target));
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attributes;
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attributes;
}

bool is_reference_implementation(const dnnl::primitive_desc_base& descriptor) {
  return std::string(descriptor.impl_info_str()).rfind("ref", 0) == 0;
}

}  // namespace cyclegan::onednn

#endif  // CYCLEGAN_HAVE_DNNL
