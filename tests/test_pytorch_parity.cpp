// Weights travel both ways between us and PyTorch: tests/reference/make_reference.py (Debian's
// python3-torch) builds the official networks, and we must reproduce their outputs.

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>

#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "cyclegan/losses.h"
#include "cyclegan/translate.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";
const std::vector<std::string> kGenerators = {"resnet_9blocks", "resnet_6blocks", "unet_128",
                                              "unet_256", "unet"};

std::string script() {
  return (testing::source_dir() / "tests/reference/make_reference.py").string();
}

double max_abs_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

class PytorchParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    const auto [status, output] = testing::run_shell(std::string(kPython) + " '" + script() +
                                                     "' '" + dir_->path().string() + "'");
    reference_status_ = status;
    reference_output_ = output;
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    ASSERT_EQ(reference_status_, 0) << "tests/reference/make_reference.py failed (is Debian's "
                                       "python3-torch installed? scripts/setup.sh installs it):\n"
                                    << reference_output_;
  }
  static fs::path file(const std::string& name) { return dir_->path() / name; }

  static std::unique_ptr<testing::TempDir> dir_;
  static int reference_status_;
  static std::string reference_output_;
};
std::unique_ptr<testing::TempDir> PytorchParity::dir_;
int PytorchParity::reference_status_ = -1;
std::string PytorchParity::reference_output_;

TEST_F(PytorchParity, ImportedGeneratorsMatchPyTorchInBothFileFormats) {
  for (const std::string& name : kGenerators) {
    const StateDict io = read_torch_file(file(name + "_io.pth"));
    for (const std::string format : {"zip", "legacy"}) {
      const LoadedGenerator loaded = load_generator(file(name + "_" + format + ".pth"));
      EXPECT_EQ(loaded.info.architecture, name) << "inferred from the keys";
      EXPECT_EQ(loaded.source_format, "pytorch " + format);
      torch::NoGradGuard no_grad;
      const double difference =
          max_abs_difference(loaded.generator->forward(io["input"].clone()), io["output"]);
      std::cout << "PyTorch -> us, " << name << " (" << format << "): max abs difference "
                << difference << "\n";
      EXPECT_LE(difference, 1e-5) << name << " " << format;
    }
  }
}

// Official generators with one-channel images on one side (--input_nc 1 / --output_nc 1): we
// infer the channels from the keys, compute their outputs, and export what PyTorch loads.
TEST_F(PytorchParity, OneChannelGeneratorsTravelBothWays) {
  struct Case {
    std::string name, architecture;
    int64_t in_channels, out_channels;
  };
  for (const Case& c : {Case{"unet_128_1to3", "unet_128", 1, 3},
                        Case{"resnet_6blocks_3to1", "resnet_6blocks", 3, 1}}) {
    const StateDict io = read_torch_file(file(c.name + "_io.pth"));
    const LoadedGenerator loaded = load_generator(file(c.name + "_zip.pth"));
    EXPECT_EQ(loaded.info.architecture, c.architecture);
    EXPECT_EQ(loaded.info.in_channels, c.in_channels) << c.name;
    EXPECT_EQ(loaded.info.out_channels, c.out_channels) << c.name;
    {
      torch::NoGradGuard no_grad;
      const double difference =
          max_abs_difference(loaded.generator->forward(io["input"].clone()), io["output"]);
      std::cout << "PyTorch -> us, " << c.name << ": max abs difference " << difference << "\n";
      EXPECT_LE(difference, 1e-5) << c.name;
    }
    save_network(file(c.name + "_ours.pt"), *loaded.generator, loaded.info);
    export_state_dict(file(c.name + "_export.pth"),
                      *load_generator(file(c.name + "_ours.pt")).generator);
    for (const auto& [check, path] : {std::pair{"--check-export", file(c.name + "_export.pth")},
                                      std::pair{"--check-network", file(c.name + "_ours.pt")}}) {
      const auto [status, output] =
          testing::run_shell(std::string(kPython) + " '" + script() + "' " + check + " " + c.name +
                             " '" + path.string() + "' '" + dir_->path().string() + "'");
      std::cout << "us -> PyTorch, " << output;
      EXPECT_EQ(status, 0) << output;
    }
  }
}

// The reference discriminators: the official NLayerDiscriminator and PixelDiscriminator.
const std::vector<std::pair<std::string, PatchDiscriminatorOptions>> kDiscriminators = {
    {"patchgan", PatchDiscriminatorOptions().ndf(16)},
    {"pixelgan", PatchDiscriminatorOptions().architecture("pixel").ndf(16)}};

TEST_F(PytorchParity, PatchDiscriminatorsMatchPyTorch) {
  for (const auto& [name, options] : kDiscriminators) {
    const StateDict io = read_torch_file(file(name + "_io.pth"));
    for (const std::string format : {"zip", "legacy"}) {
      PatchDiscriminator discriminator(options);
      load_state_dict(*discriminator, read_torch_file(file(name + "_" + format + ".pth")), format);
      torch::NoGradGuard no_grad;
      const double difference =
          max_abs_difference(discriminator->forward(io["input"]), io["output"]);
      std::cout << "PyTorch -> us, " << name << " (" << format << "): max abs difference "
                << difference << "\n";
      EXPECT_LE(difference, 1e-5) << name << " " << format;
    }
  }
}

// What PyTorch >= 2.6 and the official test.py do: torch.load(f, weights_only=True), then a
// strict load_state_dict; the reference network must then compute exactly its own output.
TEST_F(PytorchParity, ExportedGeneratorsLoadInPyTorchWithTheSameOutputs) {
  for (const std::string& name : kGenerators) {
    const LoadedGenerator loaded = load_generator(file(name + "_zip.pth"));
    // Through our own file format first, as a trained generator would come.
    save_network(file(name + "_ours.pt"), *loaded.generator, loaded.info);
    const LoadedGenerator ours = load_generator(file(name + "_ours.pt"));
    export_state_dict(file(name + "_export.pth"), *ours.generator);
    for (const auto& [check, path] : {std::pair{"--check-export", file(name + "_export.pth")},
                                      std::pair{"--check-network", file(name + "_ours.pt")}}) {
      const auto [status, output] =
          testing::run_shell(std::string(kPython) + " '" + script() + "' " + check + " " + name +
                             " '" + path.string() + "' '" + dir_->path().string() + "'");
      std::cout << "us -> PyTorch, " << output;
      EXPECT_EQ(status, 0) << output;
    }
  }
}

TEST_F(PytorchParity, ExportedDiscriminatorsLoadInPyTorchWithTheSameOutputs) {
  for (const auto& [name, options] : kDiscriminators) {
    PatchDiscriminator discriminator(options);
    load_state_dict(*discriminator, read_torch_file(file(name + "_zip.pth")), name + "_zip.pth");
    export_state_dict(file(name + "_export.pth"), *discriminator);
    const auto [status, output] = testing::run_shell(
        std::string(kPython) + " '" + script() + "' --check-export " + name + " '" +
        file(name + "_export.pth").string() + "' '" + dir_->path().string() + "'");
    std::cout << "us -> PyTorch, " << output;
    EXPECT_EQ(status, 0) << output;
  }
}

// Official networks built with --norm batch and --norm none: the norm is inferred from the keys
// (a BatchNorm's running statistics; without them, the missing biases), eval mode uses the running
// statistics, training mode the batch's and updates them as PyTorch does, and our exports load
// strictly in PyTorch (all checked by one Python process at the end).
// One training-mode pass of `network` (loaded with the reference weights) gives PyTorch's output,
// and leaves PyTorch's running statistics.
void expect_training_pass_like_pytorch(torch::nn::Module& network,
                                       const std::function<at::Tensor(const at::Tensor&)>& forward,
                                       const StateDict& io, const std::string& name) {
  network.train();
  {
    torch::NoGradGuard no_grad;
    const double difference = max_abs_difference(forward(io["input"].clone()), io["train_output"]);
    std::cout << name << ", training mode (batch statistics): max abs difference " << difference
              << "\n";
    EXPECT_LE(difference, 1e-5) << name;
  }
  int64_t buffers = 0;
  double worst = 0;
  for (const auto& item : state_dict(network)) {
    const at::Tensor& expected = io["after_train." + item.key()];
    if (item.key().find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(item.value().item<int64_t>(), 8) << name << " " << item.key();  // 7 + 1
    } else if (item.key().find("running_") != std::string::npos) {
      worst = std::max(worst, max_abs_difference(item.value(), expected));
      ++buffers;
    }
  }
  std::cout << name << ": " << buffers << " running statistics after the pass, max abs difference "
            << worst << "\n";
  EXPECT_GT(buffers, 0) << name;
  EXPECT_LE(worst, 1e-5) << name;
}

TEST_F(PytorchParity, BatchNormAndNormFreeNetworksTravelBothWays) {
  std::string checks;  // make_reference.py --checks arguments
  auto check_in_pytorch = [&](const std::string& kind, const std::string& name,
                              const fs::path& path) {
    checks += " '" + kind + ":" + name + ":" + path.string() + "'";
  };
  for (const std::string norm : {"batch", "none"}) {
    for (const std::string architecture : {"resnet_6blocks", "unet_128"}) {
      const std::string name = architecture + "_" + norm;
      const StateDict io = read_torch_file(file(name + "_io.pth"));
      const LoadedGenerator loaded = load_generator(file(name + "_zip.pth"));
      EXPECT_EQ(loaded.info.architecture, architecture) << name;
      EXPECT_EQ(loaded.info.norm, norm) << name << ": inferred from the keys";
      {
        torch::NoGradGuard no_grad;
        const double difference =
            max_abs_difference(loaded.generator->forward(io["input"].clone()), io["output"]);
        std::cout << "PyTorch -> us, " << name << " (eval mode): max abs difference " << difference
                  << "\n";
        EXPECT_LE(difference, 1e-5) << name;
      }
      save_network(file(name + "_ours.pt"), *loaded.generator, loaded.info);
      const LoadedGenerator ours = load_generator(file(name + "_ours.pt"));
      EXPECT_EQ(ours.info.norm, norm) << "our file says which norm";
      export_state_dict(file(name + "_export.pth"), *ours.generator);
      check_in_pytorch("export", name, file(name + "_export.pth"));
      check_in_pytorch("network", name, file(name + "_ours.pt"));
      if (norm == "batch") {
        GeneratorPtr generator = load_generator(file(name + "_zip.pth")).generator;
        expect_training_pass_like_pytorch(
            *generator, [&](const at::Tensor& x) { return generator->forward(x); }, io, name);
      }
    }
    for (const std::string architecture : {"patchgan", "pixelgan"}) {
      const std::string name = architecture + "_" + norm;
      const auto options = PatchDiscriminatorOptions()
                               .architecture(architecture == "pixelgan" ? "pixel" : "n_layers")
                               .ndf(16)
                               .norm(norm);
      const StateDict io = read_torch_file(file(name + "_io.pth"));
      PatchDiscriminator discriminator(options);
      load_state_dict(*discriminator, read_torch_file(file(name + "_zip.pth")), name);
      discriminator->eval();
      {
        torch::NoGradGuard no_grad;
        const double difference =
            max_abs_difference(discriminator->forward(io["input"]), io["output"]);
        std::cout << "PyTorch -> us, " << name << " (eval mode): max abs difference " << difference
                  << "\n";
        EXPECT_LE(difference, 1e-5) << name;
      }
      export_state_dict(file(name + "_export.pth"), *discriminator);
      check_in_pytorch("export", name, file(name + "_export.pth"));
      if (norm == "batch") {
        expect_training_pass_like_pytorch(
            *discriminator, [&](const at::Tensor& x) { return discriminator->forward(x); }, io,
            name);
      }
    }
  }
  const auto [status, output] =
      testing::run_shell(std::string(kPython) + " '" + script() + "' --checks '" +
                         dir_->path().string() + "'" + checks);
  std::cout << "us -> PyTorch:\n" << output;
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 12) << "every check reported";
}

// Each gan_mode's losses and the discriminator's gradients match the official GANLoss and
// cal_gradient_penalty (make_reference.py write_gan_losses) on the same weights and inputs.
TEST_F(PytorchParity, GanModesGiveTheOfficialLossesAndDiscriminatorGradients) {
  const StateDict reference = read_torch_file(file("gan_losses.pth"));
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(16));
  load_state_dict(*discriminator, read_torch_file(file("patchgan_zip.pth")), "patchgan_zip.pth");
  const at::Tensor real = reference["real"];
  const at::Tensor fake = reference["fake"];
  for (const std::string mode_name : {"lsgan", "vanilla", "wgangp"}) {
    const GanMode mode = gan_mode_from_name(mode_name);
    discriminator->zero_grad();
    auto relative = [](const at::Tensor& ours, const at::Tensor& theirs) {
      return max_abs_difference(ours, theirs) / std::max(1.0, theirs.abs().max().item<double>());
    };
    const at::Tensor g_validity = gan_loss(discriminator->forward(fake), true, mode);
    const at::Tensor d =
        discriminator_loss(discriminator->forward(real), discriminator->forward(fake), mode);
    at::Tensor total = d;
    double worst = std::max(relative(g_validity, reference[mode_name + ".g_validity"]),
                            relative(d, reference[mode_name + ".d"]));
    if (mode == GanMode::kWgangp) {
      const at::Tensor penalty =
          gradient_penalty([&](const at::Tensor& x) { return discriminator->forward(x); }, real,
                           fake, reference["alpha"], 10.0);
      worst = std::max(worst, relative(penalty, reference[mode_name + ".penalty"]));
      total = discriminator_loss(discriminator->forward(real), discriminator->forward(fake), mode,
                                 penalty);
    }
    EXPECT_LT(worst, 1e-5) << mode_name << ": losses";
    total.backward();
    double worst_gradient = 0;
    for (const auto& parameter : discriminator->named_parameters()) {
      const double difference =
          relative(parameter.value().grad(), reference[mode_name + ".grad." + parameter.key()]);
      worst_gradient = std::max(worst_gradient, difference);
      EXPECT_LT(difference, 1e-4) << mode_name << " gradient of " << parameter.key();
    }
    std::cout << mode_name << ": losses within " << worst
              << " of PyTorch's (relative), discriminator gradients within " << worst_gradient
              << "\n";
  }
}

// PyTorch 2.x's torch.save adds the records .format_version, .storage_alignment, byteorder and
// .data/serialization_id and names the archive "archive"; a file from a big-endian machine says
// byteorder "big" and holds its tensors' bytes reversed. Built here from a 1.13 file's records.
void write_as_pytorch2(const fs::path& source, const fs::path& target,
                       const std::string& byte_order) {
  caffe2::serialize::PyTorchStreamReader reader(source.string());
  std::ofstream out(target, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* data, size_t size) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    return size;
  });
  auto copy = [&](const std::string& name) {
    auto [data, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(data.get()), size);
    if (byte_order == "big" && name.rfind("data/", 0) == 0) {
      for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {  // every tensor here is float32
        std::reverse(bytes.begin() + static_cast<std::ptrdiff_t>(i),
                     bytes.begin() + static_cast<std::ptrdiff_t>(i + 4));
      }
    }
    writer.writeRecord(name, bytes.data(), bytes.size());
  };
  auto text = [&](const std::string& name, const std::string& value) {
    writer.writeRecord(name, value.data(), value.size());
  };
  copy("data.pkl");
  text(".format_version", "1");
  text(".storage_alignment", "64");
  text("byteorder", byte_order);
  for (const std::string& name : reader.getAllRecords()) {
    if (name.rfind("data/", 0) == 0) copy(name);
  }
  text(".data/serialization_id", "1234567890123456789012345678901234567890");
  writer.writeEndOfFile();  // the version record
}

TEST_F(PytorchParity, FilesInPyTorch2LayoutReadTheSameInEitherByteOrder) {
  const StateDict expected = read_torch_file(file("resnet_9blocks_zip.pth"));
  for (const std::string byte_order : {"little", "big"}) {
    const fs::path path = file("resnet_9blocks_2x_" + byte_order + ".pth");
    write_as_pytorch2(file("resnet_9blocks_zip.pth"), path, byte_order);
    const StateDict read = read_torch_file(path);
    ASSERT_EQ(read.keys(), expected.keys()) << byte_order;
    for (const auto& item : expected) {
      EXPECT_TRUE(torch::equal(read[item.key()], item.value())) << byte_order << " " << item.key();
    }
    const LoadedGenerator loaded = load_generator(path);
    EXPECT_EQ(loaded.info.architecture, "resnet_9blocks") << byte_order;
  }
  write_as_pytorch2(file("resnet_9blocks_zip.pth"), file("middle_endian.pth"), "middle");
  try {
    read_torch_file(file("middle_endian.pth"));
    ADD_FAILURE() << "an unknown byte order was read";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("byteorder"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("middle_endian.pth"), std::string::npos) << e.what();
  }
}

TEST_F(PytorchParity, PngPipelineMatchesTheOfficialTestScriptWithinOneLevel) {
  const StateDict io = read_torch_file(file("png_io.pth"));
  const at::Tensor image = io["image"];        // [256, 256, 3] uint8
  const at::Tensor official = io["official"];  // [256, 256, 3] uint8
  fs::create_directories(file("png_in"));
  write_image(file("png_in/test.png"), image.permute({2, 0, 1}).to(torch::kFloat32) / 127.5 - 1);
  ASSERT_TRUE(
      torch::equal((read_image(file("png_in/test.png")) + 1).mul(127.5).round().to(torch::kUInt8),
                   image.permute({2, 0, 1})))
      << "the PNG must hold the reference image exactly";

  for (const auto quantization : {Quantization::kRound, Quantization::kTruncate}) {
    TranslateOptions options;
    options.checkpoint = file("resnet_9blocks_zip.pth");
    options.output_dir = file("png_out");
    options.device = "cpu";
    options.quantization = quantization;
    Translator translator(options);
    const auto written = translator.translate({file("png_in/test.png")});
    ASSERT_EQ(written.size(), 1u);
    const at::Tensor ours =
        (read_image(written[0]) + 1).mul(127.5).round().to(torch::kInt32).permute({1, 2, 0});
    const at::Tensor levels = (ours - official.to(torch::kInt32)).abs();
    const int64_t max_levels = levels.max().item<int64_t>();
    const double differing = levels.gt(0).to(torch::kFloat64).mean().item<double>();
    const bool truncating = quantization == Quantization::kTruncate;
    std::cout << "PNG pipeline (" << (truncating ? "--official-rounding" : "default rounding")
              << "): max " << max_levels << " grey level(s), " << differing * 100
              << "% of values differ\n";
    EXPECT_LE(max_levels, 1);
    if (truncating) {
      EXPECT_LT(differing, 0.001) << "truncation should match almost everywhere";
    }
  }
}

TEST_F(PytorchParity, InstanceNormRunningStatisticsOfOldCheckpointsAreIgnored) {
  const LoadedGenerator loaded = load_generator(file("resnet_6blocks_old.pth"));
  EXPECT_NE(loaded.note.find("ignored 18 InstanceNorm running-statistics entries"),
            std::string::npos)
      << loaded.note;
  const StateDict io = read_torch_file(file("resnet_6blocks_io.pth"));
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_abs_difference(loaded.generator->forward(io["input"]), io["output"]), 1e-5);
}

TEST_F(PytorchParity, MismatchesNameMissingKeysOrTheFirstShapeDisagreement) {
  auto message_for = [](const fs::path& path, const GeneratorOverrides& overrides) {
    try {
      load_generator(path, overrides);
    } catch (const CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("(loaded without error)");
  };
  std::string message = message_for(file("resnet_9blocks_zip.pth"), {"resnet_6blocks", 0});
  EXPECT_NE(message.find("unexpected keys: model.16.conv_block.1.weight"), std::string::npos)
      << message;
  message = message_for(file("resnet_9blocks_zip.pth"), {"", 32});
  EXPECT_NE(message.find("key 'model.1.weight' has shape [16, 3, 7, 7], the network expects "
                         "[32, 3, 7, 7]"),
            std::string::npos)
      << message;
  message = message_for(file("unet_128_zip.pth"), {"unet_256", 0});
  EXPECT_NE(message.find("missing keys"), std::string::npos) << message;
  message = message_for(file("patchgan_zip.pth"), {});
  EXPECT_NE(message.find("holds a PatchGAN discriminator"), std::string::npos) << message;
  message = message_for(file("resnet_9blocks_io.pth"), {});
  EXPECT_NE(message.find("not a known generator layout"), std::string::npos) << message;
}

TEST_F(PytorchParity, TruncatedAndForeignFilesAreClearErrors) {
  for (const std::string format : {"zip", "legacy"}) {
    const fs::path source = file("resnet_9blocks_" + format + ".pth");
    const fs::path cut = file("cut_" + format + ".pth");
    fs::copy_file(source, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, fs::file_size(source) / 2);
    try {
      load_generator(cut);
      ADD_FAILURE() << format << ": a truncated file loaded";
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
  std::ofstream(file("notes.pth")) << "hello";
  EXPECT_THROW(load_generator(file("notes.pth")), CheckpointError);
  std::ofstream(file("empty.pth")).flush();
  EXPECT_THROW(load_generator(file("empty.pth")), CheckpointError);
  write_image(file("picture.png"), torch::zeros({3, 8, 8}));
  fs::rename(file("picture.png"), file("picture.pth"));  // an image under a checkpoint's name
  EXPECT_THROW(load_generator(file("picture.pth")), CheckpointError);
}

}  // namespace
}  // namespace cyclegan
