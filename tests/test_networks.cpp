#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cyclegan/errors.h"
#include "cyclegan/networks.h"
#include "kernels/kernels.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

struct KeyShape {
  std::string key;
  std::vector<int64_t> shape;
};

// Parses tests/data/official_state_dict_keys.txt (copied from the official networks): sections
// start with "# <name> ..." and list "key [d0, d1, ...]" lines.
std::map<std::string, std::vector<KeyShape>> official_layouts() {
  std::ifstream file(testing::source_dir() / "tests/data/official_state_dict_keys.txt");
  EXPECT_TRUE(file.good()) << "missing tests/data/official_state_dict_keys.txt";
  std::map<std::string, std::vector<KeyShape>> layouts;
  std::string section;
  std::vector<KeyShape> keys;
  auto close_section = [&] {
    if (!section.empty() && !keys.empty() && layouts.count(section) == 0) layouts[section] = keys;
    keys.clear();
  };
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("# ", 0) == 0) {
      close_section();
      std::istringstream words(line.substr(2));
      words >> section;
      continue;
    }
    const auto bracket = line.find('[');
    if (line.empty() || bracket == std::string::npos) continue;
    KeyShape entry;
    entry.key = line.substr(0, line.find(' '));
    std::string dims = line.substr(bracket + 1, line.find(']') - bracket - 1);
    std::replace(dims.begin(), dims.end(), ',', ' ');
    std::istringstream numbers(dims);
    for (int64_t d; numbers >> d;) entry.shape.push_back(d);
    keys.push_back(entry);
  }
  close_section();
  return layouts;
}

std::vector<KeyShape> layout_of(const torch::nn::Module& module) {
  std::vector<KeyShape> keys;
  for (const auto& item : module.named_parameters()) {
    keys.push_back({item.key(), item.value().sizes().vec()});
  }
  return keys;
}

void expect_same_layout(const std::vector<KeyShape>& actual, const std::vector<KeyShape>& expected,
                        const std::string& name) {
  ASSERT_EQ(actual.size(), expected.size()) << name << ": number of state_dict tensors";
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].key, expected[i].key) << name << " tensor #" << i;
    EXPECT_EQ(actual[i].shape, expected[i].shape) << name << " " << expected[i].key;
  }
}

class Networks : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

// A run's kernel policy holds on its own thread for the guard's lifetime, and no longer.
TEST(KernelPolicy, AGuardHoldsOnItsThreadAndRestoresThePreviousPolicy) {
  EXPECT_EQ(kernels::policy().precision, kernels::Precision::kFloat32);
  EXPECT_TRUE(kernels::policy().winograd);
  {
    kernels::Policy bf16_without_winograd;
    bf16_without_winograd.precision = kernels::Precision::kBFloat16;
    bf16_without_winograd.winograd = false;
    const kernels::PolicyGuard outer(bf16_without_winograd);
    {
      const kernels::PolicyGuard inner(kernels::Policy::plain());
      EXPECT_FALSE(kernels::policy().gemm_conv);
    }
    EXPECT_EQ(kernels::policy().precision, kernels::Precision::kBFloat16);
    EXPECT_FALSE(kernels::policy().winograd);
    EXPECT_TRUE(kernels::policy().gemm_conv);
    kernels::Precision elsewhere = kernels::Precision::kBFloat16;
    std::thread([&elsewhere] { elsewhere = kernels::policy().precision; }).join();
    EXPECT_EQ(elsewhere, kernels::Precision::kFloat32);
  }
  EXPECT_EQ(kernels::policy().precision, kernels::Precision::kFloat32);
  EXPECT_TRUE(kernels::policy().winograd);
}

TEST_F(Networks, GeneratorsMatchOfficialStateDictKeysAndShapes) {
  const auto layouts = official_layouts();
  for (const std::string name : {"resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"}) {
    ASSERT_EQ(layouts.count(name), 1u) << name << " missing from the reference list";
    for (bool dropout : {false, true}) {
      auto generator =
          make_generator(GeneratorOptions().architecture(name).ngf(64).dropout(dropout));
      auto expected = layouts.at(name);
      if (dropout && name.rfind("resnet", 0) == 0) {
        // Official layout: dropout shifts each block's second conv from index 5 to 6.
        for (auto& entry : expected) {
          const auto at = entry.key.find("conv_block.5.");
          if (at != std::string::npos) entry.key.replace(at, 13, "conv_block.6.");
        }
      }
      expect_same_layout(layout_of(*generator), expected, name + (dropout ? "+dropout" : ""));
    }
  }
}

TEST_F(Networks, PatchDiscriminatorMatchesOfficialStateDictKeysAndShapes) {
  const auto layouts = official_layouts();
  ASSERT_EQ(layouts.count("NLayerDiscriminator"), 1u);
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(64).n_layers(3));
  expect_same_layout(layout_of(*discriminator), layouts.at("NLayerDiscriminator"), "PatchGAN");
}

TEST_F(Networks, PixelDiscriminatorMatchesOfficialStateDictKeysAndScoresEveryPixel) {
  const auto layouts = official_layouts();
  ASSERT_EQ(layouts.count("PixelDiscriminator"), 1u);
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().architecture("pixel").ndf(64));
  expect_same_layout(layout_of(*discriminator), layouts.at("PixelDiscriminator"), "PixelGAN");
  const at::Tensor scores = discriminator->forward(torch::rand({2, 3, 20, 12}));
  EXPECT_EQ(scores.sizes(), (std::vector<int64_t>{2, 1, 20, 12}));
  EXPECT_THROW(PatchDiscriminator(PatchDiscriminatorOptions().architecture("global")), ConfigError);
}

// The official init_weights: normal N(0, gain); xavier_normal_(gain): std gain * sqrt(2 / (fan_in
// + fan_out)); kaiming_normal_(a 0, fan_in): std sqrt(2 / fan_in); orthogonal_(gain): the weight
// as a matrix [out, in * k * k] has orthogonal rows (or columns) of norm gain. Biases 0.
TEST_F(Networks, EveryOfficialInitTypeDrawsItsDistribution) {
  torch::manual_seed(3);
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(64));
  GeneratorPtr generator = make_generator(GeneratorOptions().architecture("unet_128").ngf(16));
  constexpr double kGain = 0.5;
  for (const std::string& type : init_types()) {
    for (torch::nn::Module* network :
         std::initializer_list<torch::nn::Module*>{discriminator.get(), generator.get()}) {
      init_weights(*network, kGain, type);
      for (const auto& item : network->named_parameters()) {
        const at::Tensor& weight = item.value();
        if (weight.dim() == 1) {
          EXPECT_EQ(weight.abs().max().item<double>(), 0.0) << type << " " << item.key();
          continue;
        }
        // PyTorch's fans: dimension 1 is fan in (also for transposed convolutions' weights).
        const double receptive = static_cast<double>(weight.size(2) * weight.size(3));
        const double fan_in = static_cast<double>(weight.size(1)) * receptive;
        const double fan_out = static_cast<double>(weight.size(0)) * receptive;
        if (type == "orthogonal") {
          const at::Tensor flat = weight.reshape({weight.size(0), -1});
          const at::Tensor gram =
              flat.size(0) <= flat.size(1) ? flat.mm(flat.t()) : flat.t().mm(flat);
          const at::Tensor expected = kGain * kGain * torch::eye(gram.size(0));
          EXPECT_LT((gram - expected).abs().max().item<double>(), 1e-4)
              << type << " " << item.key();
          continue;
        }
        if (weight.numel() < 2000) continue;  // too few draws for a sharp standard deviation
        const double expected = type == "normal"   ? kGain
                                : type == "xavier" ? kGain * std::sqrt(2.0 / (fan_in + fan_out))
                                                   : std::sqrt(2.0 / fan_in);
        EXPECT_NEAR(weight.std().item<double>(), expected, 0.08 * expected)
            << type << " " << item.key();
        EXPECT_NEAR(weight.mean().item<double>(), 0.0, 0.1 * expected) << type << " " << item.key();
      }
    }
  }
  EXPECT_THROW(init_weights(*discriminator, kGain, "uniform"), std::invalid_argument);
}

TEST_F(Networks, ParameterCountsMatchPublishedFigures) {
  const std::map<std::string, int64_t> expected = {{"resnet_9blocks", 11378179},
                                                   {"resnet_6blocks", 7837699},
                                                   {"unet_256", 54409603},
                                                   {"unet_128", 41825667}};
  for (const auto& [name, count] : expected) {
    EXPECT_EQ(count_parameters(*make_generator(GeneratorOptions().architecture(name).ngf(64))),
              count)
        << name;
  }
  // The book's U-Net, Example 5-2, with 32 filters.
  EXPECT_EQ(count_parameters(*make_generator(GeneratorOptions().architecture("unet").ngf(32))),
            1545411);
  EXPECT_EQ(count_parameters(*PatchDiscriminator(PatchDiscriminatorOptions().ndf(64))), 2764737);
  EXPECT_EQ(count_parameters(*PatchDiscriminator(PatchDiscriminatorOptions().ndf(32))), 694241);
}

TEST_F(Networks, InstanceNormHasNoStateDictEntries) {
  InstanceNorm norm;
  EXPECT_TRUE(norm->named_parameters().is_empty());
  EXPECT_TRUE(norm->named_buffers().is_empty());
}

TEST_F(Networks, InstanceNormNormalisesEachSampleAndChannelByHand) {
  // Sample 0 channel 0: [1 2; 3 4] -> mean 2.5, variance 1.25 (biased).
  // Sample 0 channel 1: constant 7 -> all zeros.
  // Sample 1 channel 0: [0 0; 0 8] -> mean 2, variance 12.
  auto x = torch::tensor(
               {1.f, 2.f, 3.f, 4.f, 7.f, 7.f, 7.f, 7.f, 0.f, 0.f, 0.f, 8.f, 1.f, 1.f, 1.f, 1.f})
               .reshape({2, 2, 2, 2});
  InstanceNorm norm;
  for (bool training : {true, false}) {
    norm->train(training);
    auto y = norm->forward(x);
    const float s0 = std::sqrt(1.25f + 1e-5f);
    const float s2 = std::sqrt(12.f + 1e-5f);
    auto expected = torch::tensor({-1.5f / s0, -0.5f / s0, 0.5f / s0, 1.5f / s0, 0.f, 0.f, 0.f, 0.f,
                                   -2.f / s2, -2.f / s2, -2.f / s2, 6.f / s2, 0.f, 0.f, 0.f, 0.f})
                        .reshape({2, 2, 2, 2});
    // A constant channel normalises to ~3e-5, not 0: float rounding of its mean over sqrt(eps).
    EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-4)) << "training=" << training << "\n" << y;
  }
}

// The activations after a norm run in place on its output; the gradients must be those of the
// out-of-place composition, LibTorch's instance_norm then relu.
TEST_F(Networks, InPlaceActivationAfterInstanceNormKeepsTheGradients) {
  const at::Tensor x = torch::randn({2, 3, 5, 4}, torch::requires_grad());
  const at::Tensor upstream = torch::randn({2, 3, 5, 4});
  const at::Tensor expected =
      torch::relu(torch::instance_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5, true));
  const auto expected_grad = torch::autograd::grad({expected}, {x}, {upstream})[0];
  InstanceNorm norm;
  at::Tensor actual = norm->forward(x);
  torch::relu_(actual);
  const auto actual_grad = torch::autograd::grad({actual}, {x}, {upstream})[0];
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(actual_grad, expected_grad, 1e-5, 1e-6));
  EXPECT_GT(expected_grad.abs().max().item<float>(), 0.1f);
}

TEST_F(Networks, GeneratorsKeepShapeAndRangeAtValidSizes) {
  // Shapes do not depend on the filter count; 8 filters keeps this fast.
  const std::vector<std::pair<std::string, std::vector<int64_t>>> cases = {
      {"resnet_9blocks", {64, 128, 256}},
      {"resnet_6blocks", {64, 128, 256}},
      {"unet_128", {128, 256}},
      {"unet_256", {256}},
      {"unet", {64, 128, 256}}};
  torch::NoGradGuard no_grad;
  for (const auto& [name, sizes] : cases) {
    auto generator = make_generator(GeneratorOptions().architecture(name).ngf(8));
    init_weights(*generator);
    for (int64_t size : sizes) {
      auto x = torch::rand({1, 3, size, size}) * 2 - 1;
      auto y = generator->forward(x);
      EXPECT_EQ(y.sizes(), x.sizes()) << name << " at " << size;
      EXPECT_LE(y.max().item<float>(), 1.f) << name;
      EXPECT_GE(y.min().item<float>(), -1.f) << name;
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << name;
    }
  }
}

TEST_F(Networks, InputSkipGeneratorsStartAsTheIdentityAndLearnTheChange) {
  torch::manual_seed(3);
  const at::Tensor rgb = torch::rand({2, 3, 128, 128}) * 2 - 1;  // unet_128 takes 128 at least
  const at::Tensor gray = torch::rand({2, 1, 128, 128}) * 2 - 1;
  struct Case {
    std::string architecture;
    int64_t in, out;
  };
  for (const Case& c : {Case{"resnet_6blocks", 3, 3}, Case{"unet_128", 3, 3}, Case{"unet", 3, 3},
                        Case{"resnet_6blocks", 1, 3}, Case{"unet", 3, 1}}) {
    const std::string name =
        c.architecture + " " + std::to_string(c.in) + "->" + std::to_string(c.out);
    GeneratorPtr generator = make_generator(GeneratorOptions()
                                                .architecture(c.architecture)
                                                .in_channels(c.in)
                                                .out_channels(c.out)
                                                .ngf(8)
                                                .input_skip(true));
    EXPECT_TRUE(generator->input_skip()) << name;
    const at::Tensor x = c.in == 1 ? gray : rgb;
    // The input, its channels repeated or averaged, times 0.99 (tanh(atanh(0.99 x))).
    const at::Tensor expected = 0.99 * (c.in == c.out ? x
                                        : c.in == 1   ? x.expand({2, 3, 128, 128})
                                                      : x.mean(1, true));
    at::Tensor y;
    {
      torch::NoGradGuard no_grad;
      y = generator->forward(x);
    }
    EXPECT_LT((y - expected).abs().max().item<double>(), 1e-5) << name;
    // The same weights without the skip give tanh of the zeroed output layer's logits: 0.
    generator->set_input_skip(false);
    EXPECT_EQ(generator->forward(x).abs().max().item<double>(), 0.0) << name;
    generator->set_input_skip(true);
    // The zeroed layer still learns: an L1 step towards a shifted target gives it a gradient.
    generator->zero_grad();
    (generator->forward(x) - (expected + 0.1)).abs().mean().backward();
    double gradient = 0;
    for (const auto& parameter : generator->parameters()) {
      if (parameter.grad().defined()) gradient += parameter.grad().abs().sum().item<double>();
    }
    EXPECT_GT(gradient, 0.0) << name;
  }
  EXPECT_THROW(make_generator(GeneratorOptions().in_channels(2).out_channels(3).input_skip(true)),
               ConfigError);
}

TEST_F(Networks, BiasesBeforeAnInstanceNormChangeNoOutputAndAreAllFound) {
  // Which conv biases feed a norm directly. ResNet: the first conv, 2 down, 2 per block, 2 up;
  // official U-Net: the down convs but the outermost and innermost, the up convs but the
  // outermost; the book's U-Net: its 4 down and 3 up convs; PatchGAN: the 3 middle convs.
  const std::vector<std::pair<std::string, size_t>> cases = {
      {"resnet_6blocks", 1 + 2 + 6 * 2 + 2}, {"unet_128", 5 + 6}, {"unet", 4 + 3}};
  torch::NoGradGuard no_grad;
  auto check = [](torch::nn::Module& network, const at::Tensor& x, size_t expected,
                  const std::string& name) {
    init_weights(network);
    const auto biases = biases_cancelled_by_normalisation(network);
    EXPECT_EQ(biases.size(), expected) << name;
    auto forward = [&] {
      if (auto* generator = dynamic_cast<GeneratorModule*>(&network)) return generator->forward(x);
      return dynamic_cast<PatchDiscriminatorImpl&>(network).forward(x);
    };
    const at::Tensor before = forward();
    for (const auto& bias : biases) at::Tensor(bias).uniform_(-3, 3);
    EXPECT_LE((forward() - before).abs().max().item<double>(), 1e-5) << name;
    // The other biases do matter (the check above is not vacuous).
    for (auto& parameter : network.parameters()) {
      if (parameter.dim() == 1) parameter.uniform_(-3, 3);
    }
    EXPECT_GT((forward() - before).abs().max().item<double>(), 1e-2) << name;
  };
  for (const auto& [name, expected] : cases) {
    auto generator = make_generator(GeneratorOptions().architecture(name).ngf(8));
    check(*generator, torch::rand({2, 3, 128, 128}) * 2 - 1, expected, name);
  }
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(8));
  check(*discriminator, torch::rand({2, 3, 64, 64}) * 2 - 1, 3, "patchgan");
}

TEST_F(Networks, GeneratorSizeMultiplesFollowTheirDownsampling) {
  EXPECT_EQ(generator_size_multiple("resnet_9blocks"), 4);
  EXPECT_EQ(generator_size_multiple("resnet"), 4);
  EXPECT_EQ(generator_size_multiple("unet"), 16);
  EXPECT_EQ(generator_size_multiple("u-net"), 16);
  EXPECT_EQ(generator_size_multiple("unet_128"), 128);
  EXPECT_EQ(generator_size_multiple("unet_256"), 256);
  EXPECT_THROW(generator_size_multiple("vgg"), ConfigError);
  EXPECT_THROW(make_generator(GeneratorOptions().architecture("vgg")), ConfigError);
}

TEST_F(Networks, PatchDiscriminatorGivesOneScorePerPatch) {
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(8));
  torch::NoGradGuard no_grad;
  EXPECT_EQ(discriminator->forward(torch::zeros({2, 3, 256, 256})).sizes(),
            (std::vector<int64_t>{2, 1, 30, 30}));
  EXPECT_EQ(discriminator->forward(torch::zeros({1, 3, 128, 128})).sizes(),
            (std::vector<int64_t>{1, 1, 14, 14}));
  EXPECT_EQ(discriminator->forward(torch::zeros({1, 3, 64, 64})).sizes(),
            (std::vector<int64_t>{1, 1, 6, 6}));
}

TEST_F(Networks, GradientsReachTheFirstLayer) {
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> networks;
  for (const std::string name : {"resnet_6blocks", "unet_128", "unet"}) {
    networks.emplace_back(name, make_generator(GeneratorOptions().architecture(name).ngf(8)));
  }
  networks.emplace_back("patchgan", PatchDiscriminator(PatchDiscriminatorOptions().ndf(8)).ptr());
  for (auto& [name, network] : networks) {
    init_weights(*network);
    auto x = torch::rand({1, 3, 128, 128}) * 2 - 1;
    at::Tensor y;
    if (auto generator = std::dynamic_pointer_cast<GeneratorModule>(network)) {
      y = generator->forward(x);
    } else {
      y = std::dynamic_pointer_cast<PatchDiscriminatorImpl>(network)->forward(x);
    }
    y.pow(2).mean().backward();
    const auto first = network->named_parameters().begin()->value();
    ASSERT_TRUE(first.grad().defined()) << name;
    EXPECT_GT(first.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST_F(Networks, NetworksAreBuiltWithNormalStd002WeightsAndZeroBiases) {
  // Built straight into the CycleGAN init, not LibTorch's kaiming_uniform_ (bound 1/sqrt(fan_in):
  // std 0.0046 to 0.19 on these layers), and each layer's options describe its real shape.
  const std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> networks = {
      {"resnet_9blocks", make_generator(GeneratorOptions().architecture("resnet_9blocks"))},
      {"unet_128", make_generator(GeneratorOptions().architecture("unet_128").ngf(16))},
      {"unet", make_generator(GeneratorOptions().architecture("unet").ngf(32))},
      {"patchgan", PatchDiscriminator(PatchDiscriminatorOptions()).ptr()}};
  for (const auto& [name, network] : networks) {
    std::vector<at::Tensor> weights;
    for (const auto& item : network->named_parameters()) {
      const at::Tensor& value = item.value();
      if (value.dim() == 1) {
        EXPECT_EQ(value.abs().max().item<float>(), 0.f) << name << " " << item.key();
        continue;
      }
      weights.push_back(value.flatten());
      if (value.numel() >= 4096) {
        EXPECT_NEAR(value.std().item<double>(), 0.02, 0.002) << name << " " << item.key();
      }
    }
    const at::Tensor all = torch::cat(weights);
    EXPECT_NEAR(all.mean().item<double>(), 0.0, 1e-3) << name;
    EXPECT_NEAR(all.std().item<double>(), 0.02, 5e-4) << name;
    int64_t layers = 0;
    for (const auto& module : network->modules()) {
      if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(module.get())) {
        EXPECT_EQ(conv->weight.size(0), conv->options.out_channels()) << name;
        EXPECT_EQ(conv->weight.size(1), conv->options.in_channels()) << name;
        EXPECT_EQ(conv->bias.size(0), conv->options.out_channels()) << name;
        ++layers;
      } else if (const auto* up =
                     dynamic_cast<const torch::nn::ConvTranspose2dImpl*>(module.get())) {
        EXPECT_EQ(up->weight.size(0), up->options.in_channels()) << name;
        EXPECT_EQ(up->weight.size(1), up->options.out_channels()) << name;
        EXPECT_EQ(up->bias.size(0), up->options.out_channels()) << name;
        ++layers;
      }
    }
    EXPECT_EQ(layers * 2, static_cast<int64_t>(network->parameters().size())) << name;
  }
}

TEST_F(Networks, InitWeightsDrawsNormalStd002AndZeroBiasAgain) {
  auto generator = make_generator(GeneratorOptions().architecture("resnet_9blocks").ngf(64));
  for (auto& parameter : generator->parameters()) parameter.data().uniform_(-1, 1);
  init_weights(*generator);
  std::vector<at::Tensor> weights;
  for (const auto& item : generator->named_parameters()) {
    if (item.value().dim() > 1) {
      weights.push_back(item.value().flatten());
    } else {
      EXPECT_EQ(item.value().abs().max().item<float>(), 0.f) << item.key();
    }
  }
  auto all = torch::cat(weights);
  EXPECT_NEAR(all.mean().item<double>(), 0.0, 1e-3);
  EXPECT_NEAR(all.std().item<double>(), 0.02, 5e-4);
}

TEST_F(Networks, InitialisationDependsOnTheSeedAloneNotTheThreadCount) {
  const auto initialise = [](int threads, uint64_t seed) {
    const int before = at::get_num_threads();
    at::set_num_threads(threads);
    torch::manual_seed(seed);
    auto generator = make_generator(GeneratorOptions().architecture("unet_128").ngf(16));
    at::set_num_threads(before);
    std::vector<at::Tensor> weights;
    for (const auto& parameter : generator->parameters()) weights.push_back(parameter.flatten());
    return torch::cat(weights);
  };
  const at::Tensor one_thread = initialise(1, 7);
  EXPECT_TRUE(torch::equal(one_thread, initialise(2, 7)));
  EXPECT_TRUE(torch::equal(one_thread, initialise(3, 7)));
  EXPECT_FALSE(torch::equal(one_thread, initialise(2, 8)));
  // The blocks of one tensor (2^16 values each: here its two rows) are not the same draws.
  torch::nn::Linear two_blocks(65536, 2);
  init_weights(*two_blocks);
  EXPECT_FALSE(torch::equal(two_blocks->weight[0], two_blocks->weight[1]));
  EXPECT_NEAR(two_blocks->weight.std().item<double>(), 0.02, 5e-4);
}

// Two threads stand in for two data-parallel ranks: each call waits for the other thread's
// numbers and returns the element-wise sum.
class TwoRankSum {
 public:
  std::vector<double> sum(int rank, const std::vector<double>& values) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t round = round_;
    parts_[rank] = values;
    if (++arrived_ == 2) {
      total_ = parts_[0];
      for (size_t i = 0; i < total_.size(); ++i) total_[i] += parts_[1][i];
      arrived_ = 0;
      ++round_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return round_ != round; });
    }
    return total_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<double> parts_[2];
  std::vector<double> total_;
  int arrived_ = 0;
  int64_t round_ = 0;
};

TEST_F(Networks, BatchNormOverTwoRanksComputesWhatOneRankWithBothImagesComputes) {
  torch::manual_seed(3);
  const auto options = PatchDiscriminatorOptions().ndf(8).n_layers(2).norm("batch");
  PatchDiscriminator whole(options);
  const at::Tensor images = torch::rand({2, 3, 32, 32}) * 2 - 1;
  // One rank with both images: the loss summed over them.
  const at::Tensor input = images.clone().requires_grad_(true);
  whole->forward(input).square().sum().backward();
  // Two ranks with one image each, their statistics and gradients summed over the ranks.
  TwoRankSum exchange;
  std::vector<PatchDiscriminator> halves;
  std::vector<at::Tensor> inputs;
  for (int rank = 0; rank < 2; ++rank) {
    halves.emplace_back(options);
    torch::NoGradGuard no_grad;
    const auto source = whole->named_parameters();
    for (auto& item : halves.back()->named_parameters())
      item.value().copy_(source[item.key()]);  // the weights before the step
    share_batch_statistics(*halves.back(), [&exchange, rank](const std::vector<double>& values) {
      return exchange.sum(rank, values);
    });
    inputs.push_back(images.slice(0, rank, rank + 1).clone().requires_grad_(true));
  }
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      at::set_num_threads(1);
      halves[rank]->forward(inputs[rank]).square().sum().backward();
    });
  }
  for (auto& thread : ranks) thread.join();
  auto relative = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
  };
  double worst = 0;
  for (int rank = 0; rank < 2; ++rank) {
    worst = std::max(worst, relative(inputs[rank].grad(), input.grad().slice(0, rank, rank + 1)));
  }
  const auto half0 = halves[0]->named_parameters();
  const auto half1 = halves[1]->named_parameters();
  for (const auto& item : whole->named_parameters()) {
    worst = std::max(
        worst, relative(half0[item.key()].grad() + half1[item.key()].grad(), item.value().grad()));
  }
  const auto buffers0 = halves[0]->named_buffers();
  for (const auto& item : whole->named_buffers()) {
    EXPECT_TRUE(torch::allclose(buffers0[item.key()].to(at::kDouble), item.value().to(at::kDouble),
                                1e-5, 1e-6))
        << item.key() << ": both ranks hold the global batch's running statistics";
  }
  std::cout << "batch norm over 2 ranks vs 1: largest relative gradient difference " << worst
            << "\n";
  EXPECT_LE(worst, 1e-5);
}

TEST_F(Networks, OfficialUnetSkipCarriesTheActivatedInput) {
  // The official block's in-place LeakyReLU rewrites x before concatenation; weights imported
  // from PyTorch only reproduce its outputs if we do the same.
  UnetBlock inner(UnetBlockOptions().outer_channels(2).inner_channels(2).innermost(true), nullptr);
  auto x = torch::randn({1, 2, 4, 4});
  auto expected_skip = torch::leaky_relu(x, 0.2);
  torch::NoGradGuard no_grad;
  auto y = inner->forward(x.clone());
  EXPECT_EQ(y.size(1), 4);
  EXPECT_TRUE(torch::allclose(y.slice(1, 0, 2), expected_skip));
}

}  // namespace
}  // namespace cyclegan
