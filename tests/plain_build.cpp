// cyclegan_plain_tests: the parity, resume and learning tests on the library built without the
// kernels. This test pins down that it is that library.

#include <gtest/gtest.h>

#include "kernels/kernels.h"

namespace cyclegan {
namespace {

TEST(PlainBuild, HasNoKernelsWhateverThePolicySays) {
  EXPECT_FALSE(kernels::built_with_fast_kernels());
  EXPECT_FALSE(kernels::bf16_available());
  const kernels::Policy available = kernels::available();
  EXPECT_FALSE(available.winograd || available.gemm_conv || available.few_channel_conv ||
               available.norm_kernels || available.no_grad_kernels || available.fused_adam ||
               available.bf16_weight_copies);
}

}  // namespace
}  // namespace cyclegan
