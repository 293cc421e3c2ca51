#include "gemm_conv.h"

#include "kernels.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "onednn.h"
#include "recently_used.h"

namespace cyclegan {

namespace {

bool weight_copies() { return kernels::policy().bf16_weight_copies; }

// Whether this call records gradients (a training pass).
bool records_gradients(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias) {
  return at::GradMode::is_enabled() &&
         (input.requires_grad() || weight.requires_grad() || bias.requires_grad());
}

bool computes_in_bf16(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias) {
  return kernels::policy().precision == kernels::Precision::kBFloat16 &&
         records_gradients(input, weight, bias);
}

bool is_plain_float_cpu(const at::Tensor& tensor) {
  return tensor.defined() && tensor.device().is_cpu() && tensor.scalar_type() == at::kFloat &&
         tensor.layout() == at::kStrided && !tensor.is_mkldnn();
}

#ifdef CYCLEGAN_HAVE_DNNL

using onednn::cpu_engine;
using onednn::Layout;
using onednn::memory;
using onednn::plain;

// transposed (0/1), batch, input channels, output channels, height, width, kernel, stride,
// padding, output padding, bf16 (0/1)
struct Shape {
  std::array<int64_t, 11> values;
  bool transposed() const { return values[0] != 0; }
  int64_t batch() const { return values[1]; }
  int64_t in_channels() const { return values[2]; }
  int64_t out_channels() const { return values[3]; }
  int64_t height() const { return values[4]; }
  int64_t width() const { return values[5]; }
  int64_t kernel() const { return values[6]; }
  int64_t stride() const { return values[7]; }
  int64_t padding() const { return values[8]; }
  int64_t output_padding() const { return values[9]; }
  bool bf16() const { return values[10] != 0; }
  bool operator<(const Shape& other) const { return values < other.values; }

  int64_t output_size(int64_t input_size) const {
    if (transposed()) {
      return (input_size - 1) * stride() - 2 * padding() + kernel() + output_padding();
    }
    return (input_size + 2 * padding() - kernel()) / stride() + 1;
  }
  memory::dims input_dims() const { return {batch(), in_channels(), height(), width()}; }
  // oneDNN's logical order is (out, in, h, w) for both; PyTorch stores a transposed convolution's
  // weight as (in, out, h, w), which the plain layout `iohw` describes.
  memory::dims weight_dims() const { return {out_channels(), in_channels(), kernel(), kernel()}; }
  Layout weight_layout() const { return transposed() ? Layout::iohw : Layout::oihw; }
  memory::dims output_dims() const {
    return {batch(), out_channels(), output_size(height()), output_size(width())};
  }
  memory::dims strides() const { return {stride(), stride()}; }
  memory::dims padding_before() const { return {padding(), padding()}; }
  // What the output size leaves of the padding at the bottom and right: output_padding adds rows
  // there for a transposed convolution; a convolution whose stride does not divide the padded
  // input evenly never reads its last rows of padding.
  memory::dims padding_after() const {
    const int64_t after_h = padding_after_along(height());
    const int64_t after_w = padding_after_along(width());
    return {after_h, after_w};
  }
  int64_t padding_after_along(int64_t input_size) const {
    const int64_t output = output_size(input_size);
    if (transposed()) return (input_size - 1) * stride() + kernel() - padding() - output;
    return (output - 1) * stride() + kernel() - input_size - padding();
  }
};

// Where oneDNN's GEMM beats LibTorch's own (oneDNN, blocked-layout) convolution, measured per
// layer (forward and both gradients, batch 1, 2 threads): layers whose weights outweigh their
// output -- at most 32x32 output pixels: the U-Nets' and discriminators' inner layers, 2.2-3.5x
// faster -- and 3-channel inputs (the first layers, 1.2-4.8x), in both cases with at least 16
// output channels. LibTorch's is faster for large outputs of few channels (the ResNet's last 7x7
// conv at 256 px: 125 against 462 ms) and for the stride-2 3x3 convs at 128 px and up (51
// against 74 ms). Transposed convolutions always take GEMM: LibTorch has only BLAS for them.
bool gemm_is_faster(const Shape& shape);

Shape shape_of(at::IntArrayRef input_sizes, const at::Tensor& weight, int64_t stride,
               int64_t padding, int64_t output_padding, bool transposed, bool bf16) {
  const int64_t out_channels = transposed ? weight.size(1) : weight.size(0);
  return {{transposed ? 1 : 0, input_sizes[0], input_sizes[1], out_channels, input_sizes[2],
           input_sizes[3], weight.size(2), stride, padding, output_padding, bf16 ? 1 : 0}};
}

Shape shape_of(const at::Tensor& input, const at::Tensor& weight, int64_t stride, int64_t padding,
               int64_t output_padding, bool transposed, bool bf16) {
  return shape_of(input.sizes(), weight, stride, padding, output_padding, transposed, bf16);
}

bool gemm_is_faster(const Shape& shape) {
  if (shape.transposed() || shape.bf16()) return true;
  const int64_t output_pixels =
      shape.output_size(shape.height()) * shape.output_size(shape.width());
  return shape.out_channels() >= 16 && (output_pixels <= 32 * 32 || shape.in_channels() <= 4);
}

// Whether a transposed convolution's gradients take oneDNN's blocked-layout kernels, with the
// output gradient, input and weight reordered into their layouts and the results back, rather
// than the GEMM kernels on LibTorch's layouts. Where the weight is small against the image (the
// ResNets' upsampling, the U-Nets' outer layers), the blocked kernels take 0.3-0.6x the GEMM's
// time (oneDNN alone, 2 threads: resnet_9blocks' 128 -> 64 channels at 128x128 10.6 against
// 25.9 ms, the book U-Net's 128 -> 32 at 32x32 0.9 against 2.5 ms) and the reorders little
// (1 ms, 0.1 ms). Whole steps, 3 alternating runs each: resnet_9blocks at 256 px 3.18 against
// 3.37 s, the book U-Net 0.096 against 0.108 s. Where the weight outweighs the image (the
// U-Nets' inner layers, 4-34 MB weights applied to 1x1 to 16x16 images), reordering the weight
// costs more than all the arithmetic: 8.8 against 4.2 ms at 1024 -> 512 channels on 2x2.
bool blocked_backward(const Shape& shape) {
  const int64_t weight_elements =
      shape.in_channels() * shape.out_channels() * shape.kernel() * shape.kernel();
  const int64_t image_output_elements =
      shape.out_channels() * shape.output_size(shape.height()) * shape.output_size(shape.width());
  return shape.transposed() && weight_elements <= 2 * image_output_elements;
}

// bf16 plans take oneDNN's blocked layouts in all three passes: its GEMM kernels on plain
// layouts gained only 1.2-1.5x from bf16, the blocked ones 1.5-2.6x (book U-Net layers).
bool blocked_layouts(const Shape& shape) { return shape.bf16() || blocked_backward(shape); }

// One shape's oneDNN primitives, built once: building them JIT-compiles kernels. The GEMM ones
// touch only memory in LibTorch's plain layout, so they run on the tensors' own buffers; the
// blocked ones (blocked_layouts) say which layouts they want.
struct Plan {
  dnnl::primitive forward;
  dnnl::primitive backward_data;
  dnnl::primitive backward_weights;
  // The layouts and data types the forward primitive reads and writes.
  memory::desc forward_src, forward_weights, forward_dst;
  memory::desc forward_scratch;
  memory::desc backward_data_scratch;
  memory::desc backward_weights_scratch;
  // The layouts the backward primitives want (plain ones for GEMM).
  memory::desc data_diff_dst, data_weights, data_diff_src;
  memory::desc weights_src, weights_diff_dst, weights_diff_weights;
};

template <typename Forward, typename BackwardData, typename BackwardWeights>
std::shared_ptr<Plan> build_plan(const Shape& shape, dnnl::algorithm algorithm) {
  using Type = memory::data_type;
  // What the arithmetic reads (inputs, weights, output gradients) is bf16 in a bf16 plan; what
  // it accumulates and writes (outputs, gradients) stays float32.
  const Type operand = shape.bf16() ? Type::bf16 : Type::f32;
  const bool blocked = blocked_layouts(shape);
  // A plain layout, or oneDNN's choice (blocked) where the plan takes blocked layouts.
  const auto desc = [blocked](const memory::dims& dims, Layout layout, Type type, bool choose) {
    return memory::desc(dims, type, blocked && choose ? Layout::any : layout);
  };
  const memory::dims input = shape.input_dims();
  const memory::dims weight = shape.weight_dims();
  const memory::dims output = shape.output_dims();
  const memory::desc bias = desc({shape.out_channels()}, Layout::x, Type::f32, false);
  // The forward pass of a float32 plan runs on plain layouts even where its gradients are
  // blocked: only the backward primitives need a blocked forward descriptor, as their hint.
  const bool blocked_forward = shape.bf16();
  const typename Forward::primitive_desc forward(
      typename Forward::desc(dnnl::prop_kind::forward_training, algorithm,
                             desc(input, Layout::nchw, operand, blocked_forward),
                             desc(weight, shape.weight_layout(), operand, blocked_forward), bias,
                             desc(output, Layout::nchw, Type::f32, blocked_forward),
                             shape.strides(), shape.padding_before(), shape.padding_after()),
      onednn::user_scratchpad(), cpu_engine());
  const typename Forward::primitive_desc hint =
      blocked && !blocked_forward
          ? typename Forward::primitive_desc(
                typename Forward::desc(dnnl::prop_kind::forward_training, algorithm,
                                       desc(input, Layout::nchw, operand, true),
                                       desc(weight, shape.weight_layout(), operand, true), bias,
                                       desc(output, Layout::nchw, Type::f32, true), shape.strides(),
                                       shape.padding_before(), shape.padding_after()),
                onednn::user_scratchpad(), cpu_engine())
          : forward;
  const typename BackwardData::primitive_desc backward_data(
      typename BackwardData::desc(algorithm, desc(input, Layout::nchw, Type::f32, true),
                                  desc(weight, shape.weight_layout(), operand, true),
                                  desc(output, Layout::nchw, operand, true), shape.strides(),
                                  shape.padding_before(), shape.padding_after()),
      onednn::user_scratchpad(), cpu_engine(), hint);
  const typename BackwardWeights::primitive_desc backward_weights(
      typename BackwardWeights::desc(algorithm, desc(input, Layout::nchw, operand, true),
                                     desc(weight, shape.weight_layout(), Type::f32, true), bias,
                                     desc(output, Layout::nchw, operand, true), shape.strides(),
                                     shape.padding_before(), shape.padding_after()),
      onednn::user_scratchpad(), cpu_engine(), hint);
  if (onednn::is_reference_implementation(forward) ||
      onednn::is_reference_implementation(backward_data) ||
      onednn::is_reference_implementation(backward_weights)) {
    return nullptr;
  }
  return std::make_shared<Plan>(
      Plan{Forward(forward), BackwardData(backward_data), BackwardWeights(backward_weights),
           forward.src_desc(), forward.weights_desc(), forward.dst_desc(),
           forward.scratchpad_desc(), backward_data.scratchpad_desc(),
           backward_weights.scratchpad_desc(), backward_data.diff_dst_desc(),
           backward_data.weights_desc(), backward_data.diff_src_desc(), backward_weights.src_desc(),
           backward_weights.diff_dst_desc(), backward_weights.diff_weights_desc()});
}

// Null when oneDNN has no optimised kernel for this shape on this CPU.
std::shared_ptr<Plan> make_plan(const Shape& shape) {
  try {
    if (shape.transposed()) {
      return build_plan<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                        dnnl::deconvolution_backward_weights>(
          shape, dnnl::algorithm::deconvolution_direct);
    }
    return build_plan<dnnl::convolution_forward, dnnl::convolution_backward_data,
                      dnnl::convolution_backward_weights>(shape,
                                                          dnnl::algorithm::convolution_direct);
  } catch (const dnnl::error&) {
    return nullptr;  // unimplemented: this shape takes LibTorch's path
  }
}

std::shared_ptr<Plan> plan_for(const Shape& shape) {
  static RecentlyUsed<Shape, std::shared_ptr<Plan>> plans(onednn::kMostPlans);
  return plans.get(shape, [&] { return make_plan(shape); });
}

// A float32 forward pass runs one image at a time: oneDNN's GEMM forward holds the column matrix
// of the whole batch (109 MB for the ResNet's last upsampling at 256 px, batch 2), one image's is
// half that, at the same speed. The gradients' buffers do not grow with the batch. bf16's blocked
// kernels hold no column matrix and take the whole batch: the inner layers' 8x8 and 16x16
// images then fill both threads (4 alternating runs, bf16: book U-Net 0.0656-0.0672 against
// 0.0659-0.0675 s/step and 309 against 316 MB; demo config 0.0318-0.0333 against 0.0326-0.0341).
Shape one_image(Shape shape) {
  shape.values[1] = 1;
  return shape;
}

// weight [C_out, C_in, 4, 4] -> kernel [C_in, C_out, 5, 5], kernel[i][o][a][b] = the sum of
// weight[o][i][y][x] over the taps y of row a and x of column b (along either axis, 5-tap
// index t sums 4-tap indices {3}, {2, 3}, {1, 2}, {0, 1}, {0} for t = 0..4; see
// upsample_nearest_conv4x4). One parallel pass, in the kernel's order, each 4x4 kernel being one
// cache line: built from tensor slices, sums and stacks instead, this cost 90 ms of a 64 px book
// U-Net step; with a per-tap loop over a table of the summed taps, in the weight's order, 2-3 ms
// of the 128 px one's 62 ms.
at::Tensor five_tap_kernel(const at::Tensor& weight) {
  const at::Tensor four = weight.contiguous();
  const int64_t out_channels = four.size(0);
  const int64_t in_channels = four.size(1);
  at::Tensor five = at::empty({in_channels, out_channels, 5, 5}, four.options());
  const float* source = four.data_ptr<float>();
  float* target = five.data_ptr<float>();
  at::parallel_for(0, in_channels * out_channels, 256, [&](int64_t begin, int64_t end) {
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t i = pair / out_channels;
      const int64_t o = pair % out_channels;
      const float* w = source + (o * in_channels + i) * 16;
      float rows[4][5];  // each row's 4 taps summed into 5
      for (int y = 0; y < 4; ++y) {
        const float* r = w + y * 4;
        rows[y][0] = r[3];
        rows[y][1] = r[2] + r[3];
        rows[y][2] = r[1] + r[2];
        rows[y][3] = r[0] + r[1];
        rows[y][4] = r[0];
      }
      float* k = target + pair * 25;
      for (int b = 0; b < 5; ++b) {
        k[b] = rows[3][b];
        k[5 + b] = rows[2][b] + rows[3][b];
        k[10 + b] = rows[1][b] + rows[2][b];
        k[15 + b] = rows[0][b] + rows[1][b];
        k[20 + b] = rows[0][b];
      }
    }
  });
  return five;
}

// The gradient of five_tap_kernel, [C_out, C_in, 4, 4], from a 5x5 gradient whose tap t of
// output channel o and input channel i lies at taps_of(o, i)[t * tap_stride]: each 5x5 tap's
// gradient goes back to the 4x4 taps it summed.
template <typename TapsOf>
at::Tensor four_tap_gradient_of(int64_t out_channels, int64_t in_channels, int64_t tap_stride,
                                TapsOf taps_of) {
  at::Tensor four = at::empty({out_channels, in_channels, 4, 4}, at::kFloat);
  float* target = four.data_ptr<float>();
  at::parallel_for(0, out_channels * in_channels, 256, [&](int64_t begin, int64_t end) {
    for (int64_t pair = begin; pair < end; ++pair) {
      const float* k = taps_of(pair / in_channels, pair % in_channels);
      float rows[5][4];  // each row's 5 tap gradients summed into 4
      for (int a = 0; a < 5; ++a) {
        const float* r = k + a * 5 * tap_stride;
        rows[a][0] = r[3 * tap_stride] + r[4 * tap_stride];
        rows[a][1] = r[2 * tap_stride] + r[3 * tap_stride];
        rows[a][2] = r[1 * tap_stride] + r[2 * tap_stride];
        rows[a][3] = r[0] + r[1 * tap_stride];
      }
      float* w = target + pair * 16;
      for (int x = 0; x < 4; ++x) {
        w[x] = rows[3][x] + rows[4][x];
        w[4 + x] = rows[2][x] + rows[3][x];
        w[8 + x] = rows[1][x] + rows[2][x];
        w[12 + x] = rows[0][x] + rows[1][x];
      }
    }
  });
  return four;
}

// kernel_gradient [C_in, C_out, 5, 5] (LibTorch's layout) -> [C_out, C_in, 4, 4].
at::Tensor four_tap_gradient(const at::Tensor& kernel_gradient) {
  const at::Tensor five = kernel_gradient.contiguous();
  const int64_t out_channels = five.size(1);
  const float* source = five.data_ptr<float>();
  return four_tap_gradient_of(out_channels, five.size(0), 1, [&](int64_t o, int64_t i) {
    return source + (i * out_channels + o) * 25;
  });
}

// Whether `layout` is oneDNN's BAcd16a16b for a transposed convolution's 5x5 weight gradient:
// blocks of 16 input by 16 output channels, input blocks outermost, then output blocks, taps,
// and within a block [output % 16][input % 16]. (The gradient kernels chose it for the U-Nets'
// upsampling steps, in float32 and bf16.)
bool is_blocked_16x16(const memory::desc& layout, const Shape& shape) {
  return shape.transposed() && shape.kernel() == 5 &&
         layout == memory::desc(shape.weight_dims(), memory::data_type::f32, Layout::BAcd16a16b);
}

// four_tap_gradient of a 5x5 gradient in the is_blocked_16x16 layout -> [C_out, C_in, 4, 4].
at::Tensor four_tap_gradient_of_blocked(const at::Tensor& blocked, const Shape& shape) {
  const int64_t out_blocks = (shape.out_channels() + 15) / 16;
  const float* source = static_cast<const float*>(blocked.data_ptr());
  return four_tap_gradient_of(
      shape.out_channels(), shape.in_channels(), 256, [&](int64_t o, int64_t i) {
        return source + ((i / 16) * out_blocks + o / 16) * 25 * 256 + (o % 16) * 16 + (i % 16);
      });
}

// A bf16 plan reads each weight in bf16, in the layout of each pass that reads it (forward, data
// gradient), but a weight changes once per training step (the optimizer's update) and is read by
// 2-4 passes in it. The reordered copies are kept while the weight is unchanged: the same tensor,
// data and version (in-place updates, the optimizer's included, bump the version). Only leaf
// tensors (parameters) are kept, each only while it lives: a weak reference says when it died
// (and keeps its address from being reused meanwhile).
class ReorderedWeights {
 public:
  // The copy of `weight` in layout `wanted`, made from `source` (the float32 weight in the plan's
  // plain layout; with five_tap, its 5x5 kernel's). A missing or stale copy refreshes every
  // stale copy of the weight made from the same source (the other passes' layouts): a 5x5
  // upsampling kernel is built at most once per update, not once per layout.
  memory get(const at::Tensor& weight, const memory::desc& wanted, bool five_tap,
             const memory::desc& source, dnnl::stream& stream) {
    const std::lock_guard<std::mutex> lock(mutex_);
    Entry* found = nullptr;
    for (Entry& entry : entries_) {
      if (is_copy_of(entry, weight) && entry.layout == wanted && entry.five_tap == five_tap &&
          entry.source == source) {
        found = &entry;
      }
    }
    if (found == nullptr) {
      entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                    [](const Entry& entry) { return entry.weight.expired(); }),
                     entries_.end());
      entries_.push_back(Entry{WeakTensor(weight.getIntrusivePtr()), -1, nullptr, five_tap, source,
                               wanted, at::Tensor()});
      found = &entries_.back();
      onednn::scratch(wanted, found->storage);
    }
    if (is_stale(*found, weight)) refresh_stale(weight, five_tap, source, stream);
    return memory(wanted, cpu_engine(), found->storage.data_ptr());
  }

  // See bf16_copy_writer().
  Bf16CopyWriter writer(const at::Tensor& weight) {
    const std::lock_guard<std::mutex> lock(mutex_);
    struct Target {
      Packing packing;
      bool five_tap;
      at::Tensor storage;
    };
    std::vector<Target> targets;
    for (const Entry& entry : entries_) {
      if (!is_copy_of(entry, weight)) continue;
      if (const std::optional<Packing> packing = packing_of(entry, weight)) {
        targets.push_back({*packing, entry.five_tap, entry.storage});
      }
    }
    if (targets.empty()) return {};
    auto shared = std::make_shared<const std::vector<Target>>(std::move(targets));
    Bf16CopyWriter writer;
    writer.row_blocks = weight.size(0) / 16;
    writer.write_rows = [shared](int64_t first_block, int64_t end_block) {
      for (const Target& target : *shared) {
        weight_packing::pack_bf16(target.packing.weight, target.five_tap, target.packing.layout,
                                  static_cast<uint16_t*>(target.storage.data_ptr()), first_block,
                                  end_block);
      }
    };
    writer.mark_current = [this, shared, weight] {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (Entry& entry : entries_) {
        if (!is_copy_of(entry, weight)) continue;
        for (const Target& target : *shared) {
          if (entry.storage.data_ptr() == target.storage.data_ptr()) {
            entry.version = static_cast<int64_t>(weight._version());
            entry.data = weight.data_ptr();
          }
        }
      }
    };
    return writer;
  }

 private:
  using WeakTensor = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
  struct Entry {
    WeakTensor weight;
    int64_t version;
    const void* data;
    bool five_tap;        // made from the weight's five_tap_kernel
    memory::desc source;  // the float32 weight it was made from (a 4x4 one's 5x5 kernel, ...)
    memory::desc layout;
    at::Tensor storage;
  };

  // A copy weight_packing writes from the 4x4 weight itself (its 5x5 kernel's too).
  struct Packing {
    weight_packing::FourByFour weight;
    weight_packing::Bf16Layout layout;
  };
  static std::optional<Packing> packing_of(const Entry& entry, const at::Tensor& weight) {
    if (!weight_packing::bf16_available() || weight.dim() != 4 || weight.size(2) != 4 ||
        weight.size(3) != 4 || !weight.is_contiguous() || weight.scalar_type() != at::kFloat) {
      return std::nullopt;
    }
    const std::optional<weight_packing::Bf16Layout> layout =
        onednn::pair_blocked_bf16(entry.layout);
    if (!layout) return std::nullopt;
    const memory::dims dims = entry.source.dims();  // what the layout's a and b are
    const float* data = weight.data_ptr<float>();
    const auto source_is = [&](Layout tag) {
      return entry.source == memory::desc(dims, memory::data_type::f32, tag);
    };
    if (entry.five_tap) {
      if (dims != memory::dims{weight.size(0), weight.size(1), 5, 5}) return std::nullopt;
      return Packing{{data, dims[0], dims[1], /*inputs_outer=*/false}, *layout};
    }
    if (source_is(Layout::abcd) &&
        dims == memory::dims(weight.sizes().begin(), weight.sizes().end())) {
      return Packing{{data, dims[0], dims[1], /*inputs_outer=*/false}, *layout};
    }
    if (source_is(Layout::bacd) && dims == memory::dims{weight.size(1), weight.size(0), 4, 4}) {
      return Packing{{data, dims[0], dims[1], /*inputs_outer=*/true}, *layout};
    }
    return std::nullopt;
  }

  static bool is_copy_of(const Entry& entry, const at::Tensor& weight) {
    return entry.weight._unsafe_get_target() == weight.unsafeGetTensorImpl() &&
           !entry.weight.expired();
  }

  static bool is_stale(const Entry& entry, const at::Tensor& weight) {
    return entry.version != static_cast<int64_t>(weight._version()) ||
           entry.data != weight.data_ptr();
  }

  // Refreshes the stale copies of `weight` made from `source`. A 5x5 upsampling kernel's bf16
  // blocks come straight from the 4x4 weight where weight_packing has their layout, without the
  // float32 5x5 kernel (built here only for the other layouts).
  void refresh_stale(const at::Tensor& weight, bool five_tap, const memory::desc& source,
                     dnnl::stream& stream) {
    at::Tensor holder;
    for (Entry& entry : entries_) {
      if (!is_copy_of(entry, weight) || !is_stale(entry, weight) || entry.five_tap != five_tap ||
          entry.source != source) {
        continue;
      }
      if (const std::optional<Packing> packing = packing_of(entry, weight)) {
        weight_packing::pack_bf16(packing->weight, five_tap, packing->layout,
                                  static_cast<uint16_t*>(entry.storage.data_ptr()));
      } else {
        if (!holder.defined()) holder = five_tap ? five_tap_kernel(weight) : weight;
        const memory from(source, cpu_engine(), holder.data_ptr());
        onednn::reorder(from, memory(entry.layout, cpu_engine(), entry.storage.data_ptr()), stream);
      }
      entry.version = static_cast<int64_t>(weight._version());
      entry.data = weight.data_ptr();
    }
  }

  std::mutex mutex_;
  std::deque<Entry> entries_;  // stable addresses
};

ReorderedWeights& reordered_weights() {
  static ReorderedWeights cache;
  return cache;
}

// The weight in the layout a plan's pass wants. five_tap: `weight` is a 4x4 one and the plan reads
// its five_tap_kernel. bf16 plans keep their copies of parameters (ReorderedWeights); otherwise a
// reordered copy lives in `storage`, or the plan reads the float32 weight itself, kept alive by
// `source_storage`.
memory weights_in_layout(const Shape& shape, const at::Tensor& weight, bool five_tap,
                         const memory::desc& wanted, at::Tensor& source_storage,
                         at::Tensor& storage, dnnl::stream& stream) {
  if (shape.bf16() && weight.is_leaf() && weight_copies()) {
    const memory::desc source(shape.weight_dims(), memory::data_type::f32, shape.weight_layout());
    return reordered_weights().get(weight, wanted, five_tap, source, stream);
  }
  source_storage = five_tap ? five_tap_kernel(weight) : weight;
  return onednn::in_layout(plain(source_storage, shape.weight_dims(), shape.weight_layout()),
                           wanted, storage, stream);
}

// kept_src (optional): where the whole batch's input went through one reorder (bf16 plans), the
// reordered copy's bytes, in the plan's forward_src layout.
// five_tap: `weight` is a 4x4 one and the plan reads its five_tap_kernel.
at::Tensor run_forward(const Shape& shape, const at::Tensor& input, const at::Tensor& weight,
                       const at::Tensor& bias, bool five_tap = false,
                       at::Tensor* kept_src = nullptr) {
  dnnl::stream stream(cpu_engine());
  at::Tensor output = at::empty(shape.output_dims(), input.options());
  const Shape image_shape = shape.bf16() ? shape : one_image(shape);
  const Plan& plan = *plan_for(image_shape);
  // Reordered (bf16, blocked) copies where the plan wants them; plain views otherwise.
  at::Tensor kernel_storage;
  at::Tensor weights_storage;
  at::Tensor src_storage;
  const memory weights = weights_in_layout(shape, weight, five_tap, plan.forward_weights,
                                           kernel_storage, weights_storage, stream);
  const memory biases = plain(bias, {shape.out_channels()}, Layout::x);
  at::Tensor scratch_storage;
  const memory scratch = onednn::scratch(plan.forward_scratch, scratch_storage);
  for (int64_t image = 0; image < shape.batch(); image += image_shape.batch()) {
    const memory src = onednn::in_layout(
        plain(input.narrow(0, image, image_shape.batch()), image_shape.input_dims(), Layout::nchw),
        plan.forward_src, src_storage, stream);
    memory dst = plain(output.narrow(0, image, image_shape.batch()), image_shape.output_dims(),
                       Layout::nchw);
    onednn::into_plain(plan.forward_dst, dst, stream, [&](memory& target) {
      plan.forward.execute(stream, {{DNNL_ARG_SRC, src},
                                    {DNNL_ARG_WEIGHTS, weights},
                                    {DNNL_ARG_BIAS, biases},
                                    {DNNL_ARG_DST, target},
                                    {DNNL_ARG_SCRATCHPAD, scratch}});
    });
  }
  stream.wait();
  if (kept_src != nullptr && image_shape.batch() == shape.batch()) *kept_src = src_storage;
  return output;
}

// A transposed convolution whose input has fewer pixels (over the batch) than channels: the
// U-Nets' innermost layers (1024 -> 512 channels at 2x2 and 4x4). oneDNN computes their weight
// gradient with per-thread partial copies of it (135 MB of scratch memory for one 33 MB weight,
// 15 ms a call); the gradient is one matrix product whose inner dimension is the pixel count.
bool few_pixels_for_the_weights(const Shape& shape) {
  return shape.transposed() &&
         shape.batch() * shape.height() * shape.width() <= shape.in_channels();
}

// The weight gradient of a transposed convolution, [in, out, k, k] as LibTorch stores it. Input
// pixel (y, x) reached output pixel (y * stride - padding + ky, x * stride - padding + kx) through
// tap (ky, kx): the columns of the output gradient taken with the same kernel, stride and padding
// are exactly those pixels, one column per input pixel (zero where the output was cropped).
at::Tensor transposed_weight_gradient(const Shape& shape, const at::Tensor& input,
                                      const at::Tensor& grad_output) {
  const int64_t batch = shape.batch();
  const int64_t height = shape.height();
  const int64_t width = shape.width();
  const int64_t kernel = shape.kernel();
  const int64_t pixels = height * width;
  const int64_t out_height = grad_output.size(2);
  const int64_t out_width = grad_output.size(3);
  // columns[(o, ky, kx), (n, y, x)] = grad_output[n, o, y * stride - padding + ky, ...].
  at::Tensor columns =
      at::empty({shape.out_channels() * kernel * kernel, batch * pixels}, input.options());
  const float* gradient = grad_output.data_ptr<float>();
  float* column = columns.data_ptr<float>();
  const int64_t stride = shape.stride();
  // The input pixels [first, end) along an axis whose output pixel i * stride - padding + tap lies
  // in [0, out_size): the others read zeros, filled without a test per pixel.
  const auto inside = [&](int64_t tap, int64_t size, int64_t out_size) {
    const int64_t offset = tap - shape.padding();
    const int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const int64_t end = out_size - 1 - offset < 0 ? 0 : (out_size - 1 - offset) / stride + 1;
    return std::pair<int64_t, int64_t>{std::min(first, size),
                                       std::max(std::min(first, size), std::min(end, size))};
  };
  at::parallel_for(0, shape.out_channels(), 16, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t ky = 0; ky < kernel; ++ky) {
        const auto [y_first, y_end] = inside(ky, height, out_height);
        for (int64_t kx = 0; kx < kernel; ++kx) {
          const auto [x_first, x_end] = inside(kx, width, out_width);
          float* row = column + ((o * kernel + ky) * kernel + kx) * batch * pixels;
          for (int64_t n = 0; n < batch; ++n) {
            const float* plane = gradient + (n * shape.out_channels() + o) * out_height * out_width;
            for (int64_t y = 0; y < height; ++y, row += width) {
              if (y < y_first || y >= y_end) {
                std::fill(row, row + width, 0.0f);
                continue;
              }
              const float* source =
                  plane + (y * stride - shape.padding() + ky) * out_width - shape.padding() + kx;
              std::fill(row, row + x_first, 0.0f);
              for (int64_t x = x_first; x < x_end; ++x) row[x] = source[x * stride];
              std::fill(row + x_end, row + width, 0.0f);
            }
          }
        }
      }
    }
  });
  // [batch, channels, pixels] -> [channels, batch * pixels] (a copy only for batches over 1).
  const at::Tensor input_rows = input.reshape({batch, shape.in_channels(), pixels})
                                    .transpose(0, 1)
                                    .reshape({shape.in_channels(), batch * pixels});
  at::Tensor gradient_weight =
      at::empty({shape.in_channels(), shape.out_channels(), kernel, kernel}, input.options());
  const int64_t taps = columns.size(0);
  const int64_t depth = batch * pixels;
  // oneDNN's sgemm runs on LibTorch's OpenMP threads; OpenBLAS's own threads competed with them
  // (10 ms against 3 for a 1024 x 8192 result).
  dnnl::sgemm('N', 'T', shape.in_channels(), taps, depth, 1.0f,
              input_rows.contiguous().data_ptr<float>(), depth, column, depth, 0.0f,
              gradient_weight.data_ptr<float>(), taps);
  return gradient_weight;
}

// The stride-2 5x5 transposed convolution that upsample_nearest_conv4x4 computes, for a 4x4
// weight [C_out, C_in, 4, 4] and input sizes [N, C_in, H, W].
Shape five_tap_shape(at::IntArrayRef input_sizes, const at::Tensor& weight, bool bf16) {
  return {{1, input_sizes[0], input_sizes[1], weight.size(0), input_sizes[2], input_sizes[3], 5, 2,
           2, 1, bf16 ? 1 : 0}};
}

// five_tap: `weight` is a 4x4 one, the convolution the stride-2 transposed one with its
// five_tap_kernel (see upsample_nearest_conv4x4), and the gradient flows to the 4x4 taps.
class GemmConvolution : public torch::autograd::Function<GemmConvolution> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                            int64_t padding, int64_t output_padding, bool transposed, bool bf16,
                            bool five_tap) {
    const Shape shape =
        five_tap ? five_tap_shape(input.sizes(), weight, bf16)
                 : shape_of(input, weight, stride, padding, output_padding, transposed, bf16);
    context->saved_data["shape"] = std::vector<int64_t>(shape.values.begin(), shape.values.end());
    // A bf16 plan's weight gradient reads the input as the forward pass did, reordered into
    // bf16 in a blocked layout: that copy is kept instead of the float32 input (half its size,
    // and no second reorder in the backward pass). The float32 weight-gradient product
    // (few_pixels_for_the_weights) reads the input itself.
    at::Tensor kept_src;
    const bool keep_src = shape.bf16() && !few_pixels_for_the_weights(shape);
    // A 4x4 weight's 5x5 kernel is built here and kept for the gradients, unless the plan keeps
    // bf16 copies of the weight (ReorderedWeights), which build it only when the weight changed.
    const bool kernel_from_cache = five_tap && shape.bf16() && weight.is_leaf();
    const at::Tensor plan_weight =
        five_tap && !kernel_from_cache ? five_tap_kernel(weight) : weight;
    at::Tensor output = run_forward(shape, input, plan_weight, bias, kernel_from_cache,
                                    keep_src ? &kept_src : nullptr);
    context->saved_data["kept_src"] = kept_src.defined();
    context->saved_data["five_tap"] = five_tap;
    context->saved_data["kernel_from_cache"] = kernel_from_cache;
    context->save_for_backward({kept_src.defined() ? kept_src : input, plan_weight});
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved = context->get_saved_variables();
    const bool kept_src = context->saved_data["kept_src"].toBool();
    const at::Tensor& input = saved[0];  // or, kept_src, the forward pass's reordered copy
    // The weight the plan reads, or, kernel_from_cache, the 4x4 one whose 5x5 kernel it reads.
    const at::Tensor& weight = saved[1];
    const bool five_tap = context->saved_data["five_tap"].toBool();
    const bool kernel_from_cache = context->saved_data["kernel_from_cache"].toBool();
    Shape shape;
    const std::vector<int64_t> values = context->saved_data["shape"].toIntVector();
    std::copy(values.begin(), values.end(), shape.values.begin());
    const Plan& plan = *plan_for(shape);
    const at::Tensor grad_output = gradients[0].contiguous();
    dnnl::stream stream(cpu_engine());
    const memory diff_dst = plain(grad_output, shape.output_dims(), Layout::nchw);
    // Reordered copies where the plan's primitives want other layouts (blocked_backward).
    memory diff_dst_data;  // the output gradient as the data gradient's primitive reads it
    at::Tensor diff_dst_storage;
    at::Tensor diff_dst_storage_for_weights;
    at::Tensor kernel_storage;
    at::Tensor weights_storage;
    at::Tensor src_storage;
    at::Tensor scratch;
    at::Tensor grad_input;
    at::Tensor grad_weight;
    at::Tensor grad_bias;
    if (context->needs_input_grad(0)) {
      grad_input = at::empty(shape.input_dims(), weight.options());
      diff_dst_data = onednn::in_layout(diff_dst, plan.data_diff_dst, diff_dst_storage, stream);
      const memory weights = weights_in_layout(shape, weight, kernel_from_cache, plan.data_weights,
                                               kernel_storage, weights_storage, stream);
      memory diff_src = plain(grad_input, shape.input_dims(), Layout::nchw);
      onednn::into_plain(plan.data_diff_src, diff_src, stream, [&](memory& target) {
        plan.backward_data.execute(
            stream, {{DNNL_ARG_DIFF_DST, diff_dst_data},
                     {DNNL_ARG_WEIGHTS, weights},
                     {DNNL_ARG_DIFF_SRC, target},
                     {DNNL_ARG_SCRATCHPAD, onednn::scratch(plan.backward_data_scratch, scratch)}});
      });
    }
    if ((context->needs_input_grad(1) || context->needs_input_grad(2)) &&
        few_pixels_for_the_weights(shape)) {
      grad_weight = transposed_weight_gradient(shape, input, grad_output);
      if (five_tap) grad_weight = four_tap_gradient(grad_weight);
      grad_bias = grad_output.sum({0, 2, 3});
    } else if (context->needs_input_grad(1) || context->needs_input_grad(2)) {
      // The plan's weight as LibTorch lays it out ([C_in, C_out, k, k] when transposed).
      const std::vector<int64_t> weight_sizes =
          shape.transposed() ? std::vector<int64_t>{shape.in_channels(), shape.out_channels(),
                                                    shape.kernel(), shape.kernel()}
                             : shape.weight_dims();
      grad_weight = at::empty(weight_sizes, weight.options());
      grad_bias = at::empty({shape.out_channels()}, weight.options());
      const memory src =
          onednn::in_layout(kept_src ? memory(plan.forward_src, cpu_engine(), input.data_ptr())
                                     : plain(input, shape.input_dims(), Layout::nchw),
                            plan.weights_src, src_storage, stream);
      const memory diff_dst_weights =
          diff_dst_data && diff_dst_data.get_desc() == plan.weights_diff_dst
              ? diff_dst_data
              : onednn::in_layout(diff_dst, plan.weights_diff_dst, diff_dst_storage_for_weights,
                                  stream);
      const auto compute = [&](memory& target) {
        plan.backward_weights.execute(
            stream,
            {{DNNL_ARG_SRC, src},
             {DNNL_ARG_DIFF_DST, diff_dst_weights},
             {DNNL_ARG_DIFF_WEIGHTS, target},
             {DNNL_ARG_DIFF_BIAS, plain(grad_bias, {shape.out_channels()}, Layout::x)},
             {DNNL_ARG_SCRATCHPAD, onednn::scratch(plan.backward_weights_scratch, scratch)}});
      };
      if (five_tap && is_blocked_16x16(plan.weights_diff_weights, shape)) {
        // The 4x4 gradient straight from the blocked 5x5 one: no reorder into LibTorch's layout.
        at::Tensor blocked_storage;
        memory blocked = onednn::scratch(plan.weights_diff_weights, blocked_storage);
        compute(blocked);
        stream.wait();
        grad_weight = four_tap_gradient_of_blocked(blocked_storage, shape);
      } else {
        memory diff_weights = plain(grad_weight, shape.weight_dims(), shape.weight_layout());
        onednn::into_plain(plan.weights_diff_weights, diff_weights, stream, compute);
        stream.wait();
        if (five_tap) grad_weight = four_tap_gradient(grad_weight);
      }
    }
    stream.wait();
    return {grad_input,   grad_weight,  grad_bias,    at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The shape of the plan a call takes: bf16 where training asks for it and oneDNN has optimised
// bf16 kernels for the shape, else float32, under float32's rules (gemm_is_faster).
// Whether oneDNN has optimised kernels for the shape's whole batch and for one image of it.
bool has_plans(const Shape& shape) {
  return plan_for(shape) != nullptr && plan_for(one_image(shape)) != nullptr;
}

// A float32 shape's bf16 twin where `bf16` asks for it and oneDNN has its plans, else itself.
Shape in_bf16_where_planned(Shape shape, bool bf16) {
  Shape twin = shape;
  twin.values[10] = 1;
  return bf16 && has_plans(twin) ? twin : shape;
}

Shape planned_shape(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                    int64_t stride, int64_t padding, int64_t output_padding, bool transposed) {
  return in_bf16_where_planned(
      shape_of(input, weight, stride, padding, output_padding, transposed, false),
      computes_in_bf16(input, weight, bias));
}

at::Tensor run(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
               int64_t stride, int64_t padding, int64_t output_padding, bool transposed) {
  if (records_gradients(input, weight, bias)) {
    const bool bf16 =
        planned_shape(input, weight, bias, stride, padding, output_padding, transposed).bf16();
    return GemmConvolution::apply(input.contiguous(), weight.contiguous(), bias.contiguous(),
                                  stride, padding, output_padding, transposed, bf16,
                                  /*five_tap=*/false);
  }
  const Shape shape =
      shape_of(input, weight, stride, padding, output_padding, transposed, /*bf16=*/false);
  return run_forward(shape, input.contiguous(), weight.contiguous(), bias.contiguous());
}

// upsample_nearest_conv4x4's transposed convolution with the 5x5 kernel of `weight` [C_out, C_in,
// 4, 4], where oneDNN has a plan for it (in bf16 where training asks for it and oneDNN has bf16
// kernels for the shape); undefined where it has none.
at::Tensor run_five_tap(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias) {
  if (!is_plain_float_cpu(input) || !is_plain_float_cpu(bias) || bias.dim() != 1 ||
      bias.size(0) != weight.size(0)) {
    return {};
  }
  const Shape shape = in_bf16_where_planned(five_tap_shape(input.sizes(), weight, /*bf16=*/false),
                                            computes_in_bf16(input, weight, bias));
  if (!has_plans(shape)) return {};
  if (records_gradients(input, weight, bias)) {
    return GemmConvolution::apply(input.contiguous(), weight.contiguous(), bias.contiguous(), 2, 2,
                                  1, /*transposed=*/true, shape.bf16(), /*five_tap=*/true);
  }
  return run_forward(shape, input.contiguous(), five_tap_kernel(weight), bias.contiguous());
}

#endif  // CYCLEGAN_HAVE_DNNL

// Along one axis, which of the 4x4 kernel's taps (-1: none) reach input offset -1, 0 and +1 (3x3
// taps 0, 1, 2) for the upsampled output's even and odd pixels (see upsample_nearest_conv4x4).
constexpr int kPhaseTaps[2][3][2] = {{{0, -1}, {1, 2}, {3, -1}}, {{-1, -1}, {0, 1}, {2, 3}}};

// weight [C_out, C_in, 4, 4] -> [4 C_out, C_in, 3, 3]: output channel 4o + 2py + px is output
// channel o's kernel for the upsampled pixels of row parity py and column parity px, as a 3x3
// kernel over the input before upsampling (padding 1). A product with a constant 0/1 matrix,
// so autograd carries the gradient back to the 4x4 taps.
at::Tensor phase_kernels(const at::Tensor& weight) {
  // taps_of[4x4 tap][parity][3x3 tap] = 1 where the 4x4 tap sums into the 3x3 one; built once.
  static const at::Tensor taps_of = [] {
    at::Tensor table = at::zeros({16, 36}, at::kFloat);
    auto entries = table.accessor<float, 2>();
    for (int py = 0; py < 2; ++py) {
      for (int px = 0; px < 2; ++px) {
        for (int ky = 0; ky < 3; ++ky) {
          for (int kx = 0; kx < 3; ++kx) {
            for (const int y : kPhaseTaps[py][ky]) {
              for (const int x : kPhaseTaps[px][kx]) {
                if (y >= 0 && x >= 0) entries[y * 4 + x][(py * 2 + px) * 9 + ky * 3 + kx] = 1.0f;
              }
            }
          }
        }
      }
    }
    return table;
  }();
  const int64_t out_channels = weight.size(0);
  const int64_t in_channels = weight.size(1);
  return at::matmul(weight.reshape({out_channels * in_channels, 16}), taps_of)
      .reshape({out_channels, in_channels, 4, 3, 3})
      .permute({0, 2, 1, 3, 4})
      .reshape({4 * out_channels, in_channels, 3, 3});
}

}  // namespace

bool gemm_conv_available() {
#ifdef CYCLEGAN_HAVE_DNNL
  // The U-Nets' and ResNets' shapes all have optimised kernels with AVX2 and later; this probe
  // stands for them.
  static const bool available = plan_for(Shape{{1, 1, 16, 16, 8, 8, 4, 2, 1, 0, 0}}) != nullptr;
  return available;
#else
  return false;
#endif
}

bool bf16_conv_available() {
#ifdef CYCLEGAN_HAVE_DNNL
  // The ISA bit masks nest: every ISA with bf16 instructions (AMX included) contains these bits.
  const auto bf16_bits = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return gemm_conv_available() && (isa & bf16_bits) == bf16_bits;
#else
  return false;
#endif
}

Bf16CopyWriter bf16_copy_writer(const at::Tensor& weight) {
#ifdef CYCLEGAN_HAVE_DNNL
  if (weight_copies() && weight.is_leaf()) return reordered_weights().writer(weight);
#else
  (void)weight;
#endif
  return {};
}

bool gemm_conv_enabled() { return kernels::policy().gemm_conv && gemm_conv_available(); }

bool gemm_conv_applies(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                       int64_t stride, int64_t padding, int64_t output_padding, bool transposed) {
#ifdef CYCLEGAN_HAVE_DNNL
  if (!gemm_conv_enabled() || !is_plain_float_cpu(input) || !is_plain_float_cpu(weight) ||
      !is_plain_float_cpu(bias) || input.dim() != 4 || weight.dim() != 4 || bias.dim() != 1 ||
      weight.size(2) != weight.size(3) || stride < 1 || padding < 0 || output_padding < 0) {
    return false;
  }
  const int64_t in_channels = transposed ? weight.size(0) : weight.size(1);
  const int64_t out_channels = transposed ? weight.size(1) : weight.size(0);
  if (in_channels != input.size(1) || bias.size(0) != out_channels) return false;
  if (transposed ? (output_padding > padding || output_padding >= stride) : output_padding != 0) {
    return false;
  }
  const Shape unplanned =
      shape_of(input, weight, stride, padding, output_padding, transposed, /*bf16=*/false);
  if (unplanned.output_size(unplanned.height()) < 1 || unplanned.output_size(unplanned.width()) < 1)
    return false;
  const Shape shape =
      planned_shape(input, weight, bias, stride, padding, output_padding, transposed);
  // The forward pass runs image by image (run_forward), the gradients on the whole batch.
  return gemm_is_faster(shape) && has_plans(shape);
#else
  (void)input, (void)weight, (void)bias, (void)stride, (void)padding, (void)output_padding;
  (void)transposed;
  return false;
#endif
}

#ifdef CYCLEGAN_HAVE_DNNL
namespace {

// A bias-free convolution takes the GEMM path (with a zero bias) only when it records gradients:
// without them LibTorch's operator computes exactly what PyTorch does, and networks without a
// norm after such a layer would carry the paths' rounding differences far.
at::Tensor training_bias(const at::Tensor& bias, const at::Tensor& input, const at::Tensor& weight,
                         int64_t channels) {
  if (bias.defined() || !at::GradMode::is_enabled() ||
      !(input.requires_grad() || weight.requires_grad()))
    return bias;
  return kernels::detail::bias_or_zeros(bias, weight, channels);
}

}  // namespace
#endif

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding) {
#ifdef CYCLEGAN_HAVE_DNNL
  const at::Tensor kernel_bias = training_bias(bias, input, weight, weight.size(0));
  if (gemm_conv_applies(input, weight, kernel_bias, stride, padding, 0, /*transposed=*/false)) {
    return run(input, weight, kernel_bias, stride, padding, 0, /*transposed=*/false);
  }
#endif
  return at::conv2d(input, weight, bias, stride, padding);
}

at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding) {
#ifdef CYCLEGAN_HAVE_DNNL
  const at::Tensor kernel_bias = training_bias(bias, input, weight, weight.size(1));
  if (gemm_conv_applies(input, weight, kernel_bias, stride, padding, output_padding,
                        /*transposed=*/true)) {
    return run(input, weight, kernel_bias, stride, padding, output_padding, /*transposed=*/true);
  }
#endif
  return at::conv_transpose2d(input, weight, bias, stride, padding, output_padding);
}

at::Tensor upsample_nearest_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                                    const at::Tensor& bias) {
  TORCH_CHECK(input.dim() == 4 && weight.dim() == 4 && weight.size(2) == 4 && weight.size(3) == 4 &&
                  weight.size(1) == input.size(1),
              "upsample_nearest_conv4x4: expected input [N, C, H, W] and weight [C_out, C, 4, 4], "
              "got ",
              input.sizes(), " and ", weight.sizes());
  // From 4x4 inputs up, in float32 and bf16 alike, as one 5-tap transposed convolution; smaller
  // inputs keep LibTorch's path (bench/README.md, "The book U-Net's upsampling").
  const bool bf16 = computes_in_bf16(input, weight, bias);
  const int64_t minimum_pixels = 4 * 4;
  // bf16 training with a few output channels (the last layer's 3 colours): each of the 4 output
  // pixel parities gets its own 3x3 kernel, all in one convolution, interleaved by pixel_shuffle
  // (oneDNN's transposed kernels would fill 3 of 16 lanes). Float32 keeps the transposed one.
  constexpr int64_t kMaximumPhaseOutputs = 4;
  if (bf16 && gemm_conv_enabled() && is_plain_float_cpu(weight) && is_plain_float_cpu(bias) &&
      weight.size(0) <= kMaximumPhaseOutputs && input.size(2) * input.size(3) >= minimum_pixels) {
    return at::pixel_shuffle(conv2d(input, phase_kernels(weight), bias.repeat_interleave(4), 1, 1),
                             2);
  }
  if (gemm_conv_enabled() && is_plain_float_cpu(weight) &&
      input.size(2) * input.size(3) >= minimum_pixels) {
    // Output pixel 2m (one axis) reads upsampled pixels 2m-1 .. 2m+2, i.e. inputs m-1, m, m, m+1
    // through taps w0..w3; pixel 2m+1 reads inputs m, m, m+1, m+1. As a transposed convolution
    // of stride 2 and padding 2, input m reaches output 2m + d through kernel tap d + 2:
    //   tap 0 (d=-2) = w3, 1 = w2+w3, 2 = w1+w2, 3 = w0+w1, 4 (d=+2) = w0.
#ifdef CYCLEGAN_HAVE_DNNL
    const at::Tensor output = run_five_tap(input, weight, bias);
    if (output.defined()) return output;
#endif
  }
  const at::Tensor upsampled =
      at::upsample_nearest2d(input, {2 * input.size(2), 2 * input.size(3)});
  const at::Tensor padded = at::constant_pad_nd(upsampled, {1, 2, 1, 2});
  return bf16 ? conv2d(padded, weight, bias, 1, 0) : at::conv2d(padded, weight, bias);
}

}  // namespace cyclegan
