#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

namespace cyclegan {

/// Convolutions and transposed convolutions through oneDNN's GEMM-based kernels on LibTorch's
/// own layouts (nchw activations, PyTorch's weight layouts): no reordering of weights or
/// activations on the way in or out. (One exception: a transposed convolution whose weight is
/// small against its image computes its gradients with oneDNN's blocked kernels, reordering in
/// and out, which costs less there than GEMM; gemm_conv.cpp, blocked_backward.)
///
/// Why: Debian's LibTorch computes transposed convolutions through BLAS (im2col / col2im, at a
/// fraction of its convolutions' speed), and its oneDNN convolutions reorder the weights into a
/// blocked layout on every call and the weight gradient back. The U-Nets' inner layers are 17-34
/// MB weight tensors applied to 1x1 to 8x8 images, where those reorders cost 11-14 ms per call
/// against 3 ms for the arithmetic itself.
///
/// In bf16 training (kernels::Policy::precision) the same entry points compute in bf16 instead, on
/// oneDNN's blocked layouts (see bf16_conv_available).

/// Whether this build can take these paths (built against libdnnl-dev, and oneDNN has an
/// optimised kernel for this CPU).
bool gemm_conv_available();

/// Whether the thread's policy (kernels::Policy::gemm_conv) allows these paths and they are
/// available. Off: LibTorch's conv2d, conv_transpose2d and upsample + pad + conv2d.
bool gemm_conv_enabled();

/// bf16 training (kernels::Policy::precision kBFloat16): every convolution and transposed
/// convolution that records gradients takes oneDNN's blocked-layout kernels with bf16 inputs,
/// weights and output gradients, and float32 outputs and gradients; weights, Adam's state,
/// normalisation and losses stay float32, and so do inference and the ResNets' Winograd 3x3 and
/// 7x7 edge convolutions.
/// Whether this CPU computes bf16 convolutions in hardware (AVX512-BF16 or AMX; oneDNN would
/// otherwise emulate them, slower than float32) and this build has the oneDNN path.
bool bf16_conv_available();

/// kernels::Policy::bf16_weight_copies: in bf16 training, each parameter's bf16 copies in the
/// layouts oneDNN's passes read are kept and refreshed only when the parameter changes -- another
/// tensor, other data, or a new version (every in-place update bumps it: the optimizer's, a
/// checkpoint's load) -- instead of being converted again by every pass that reads it: a weight
/// changes once per step but is read 2-4 times. Writes that bypass LibTorch (raw data pointers)
/// must bump the version themselves (kernels::adam_update does). Off: converted on every pass.

/// For the optimizer: the bf16 copies kept of a weight that it can write itself, one block of 16
/// rows (the weight's first dimension) right after updating it, while those rows are in cache,
/// instead of the next forward pass reading the whole weight back from memory (4x4 weights with
/// channel counts in blocks of 16, their 5x5 upsampling kernels included). row_blocks 0: none.
/// After the update and its version bump, mark_current() says the copies hold it.
struct Bf16CopyWriter {
  int64_t row_blocks = 0;
  std::function<void(int64_t first_block, int64_t end_block)> write_rows;
  std::function<void()> mark_current;
};
Bf16CopyWriter bf16_copy_writer(const at::Tensor& weight);

/// Whether conv2d() (`transposed` false) or conv_transpose2d() (`transposed` true) takes oneDNN's
/// path for these arguments: CPU float32 tensors, square kernel, the same stride and padding on
/// both axes, no groups or dilation, a bias, output_padding <= padding, an optimised oneDNN
/// kernel for the shape, and -- for float32 convolutions -- a shape where oneDNN's GEMM is the
/// faster path (small outputs of many channels, and 3-channel inputs; gemm_conv.cpp has the
/// measurements). In bf16 training, every shape with a kernel applies in training.
bool gemm_conv_applies(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                       int64_t stride, int64_t padding, int64_t output_padding, bool transposed);

/// at::conv2d(input, weight, bias, stride, padding), with the forward pass and both gradients
/// computed by oneDNN where gemm_conv_applies(); results agree with LibTorch's to float rounding.
/// The networks use it only in bf16 training (kernels::conv2d, kernels.h): in float32 it made no
/// whole step faster on AVX-512 and moved imported ResNets' outputs past the parity tests' 1e-5
/// (bench/README.md, "gemm_conv in float32"). input [N, C_in, H, W], weight [C_out, C_in, k, k],
/// bias [C_out].
at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                  int64_t stride, int64_t padding);

/// at::conv_transpose2d(input, weight, bias, stride, padding, output_padding), likewise.
/// input [N, C_in, H, W], weight [C_in, C_out, k, k] (PyTorch's layout), bias [C_out]
///   -> [N, C_out, (H - 1) * stride - 2 * padding + k + output_padding, ...].
at::Tensor conv_transpose2d(const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding,
                            int64_t output_padding);

/// conv2d(zero_pad(upsample_nearest_2x(input), left/top 1, right/bottom 2), weight, bias): the
/// book U-Net's upsampling step (Keras UpSampling2D, then a 4x4 'same' Conv2D), computed as the
/// one stride-2 5x5 transposed convolution it equals. Each output pixel of the upsampled conv
/// reads only 2 or 3 distinct input rows (and columns), so the kernel taps that land on the same
/// input pixel can be summed first: 6.25 instead of 16 multiply-adds per output pixel and input
/// channel, no 4x larger upsampled tensor, and the same result to float rounding. The 5x5
/// kernel is built from the 4x4 weight inside that convolution (in bf16 training, once per
/// weight update: set_bf16_weight_copies_enabled), and its gradient summed back to the 4x4 taps
/// there. Inputs under 4x4 pixels take LibTorch's upsample + pad + conv instead.
/// In bf16 training with at most 4 output channels (the last layer) it is instead one 3x3
/// convolution to 4 C_out channels, a kernel per output pixel parity, and a pixel shuffle.
/// input [N, C_in, H, W], weight [C_out, C_in, 4, 4] (a Conv2d's), bias [C_out]
///   -> [N, C_out, 2H, 2W]. Gradients flow to the 4x4 weight.
at::Tensor upsample_nearest_conv4x4(const at::Tensor& input, const at::Tensor& weight,
                                    const at::Tensor& bias);

}  // namespace cyclegan
