#include "onednn.h"

#ifdef CYCLEGAN_HAVE_DNNL

#include <ATen/ATen.h>

#include <string>

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
  dnnl::reorder(source, target).execute(stream, const_cast<memory&>(source), target);
  return target;
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
