#include <gtest/gtest.h>

#include <fstream>

#include "cyclegan/config.h"
#include "cyclegan/errors.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

class ConfigFile : public ::testing::Test {
 protected:
  fs::path write(const std::string& text) {
    const fs::path path = dir_ / "config.yaml";
    std::ofstream(path) << text;
    return path;
  }
  // The ConfigError message for loading `text`; fails the test if it loads.
  std::string error_for(const std::string& text) {
    try {
      load_train_config(write(text));
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a ConfigError for:\n" << text;
    return "";
  }
  testing::TempDir dir_;
};

TEST_F(ConfigFile, EveryShippedConfigLoads) {
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(testing::source_dir() / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    EXPECT_NO_THROW(load_train_config(entry.path())) << entry.path();
    ++loaded;
  }
  EXPECT_GE(loaded, 4);
}

TEST_F(ConfigFile, BookConfigsCarryTheBooksValues) {
  const TrainConfig apple = load_train_config(testing::source_dir() / "configs/apple2orange.yaml");
  EXPECT_EQ(apple.input_dim, 128);
  EXPECT_EQ(apple.generator_type, "unet");
  EXPECT_EQ(apple.gen_n_filters, 32);
  EXPECT_EQ(apple.disc_n_filters, 32);
  EXPECT_DOUBLE_EQ(apple.learning_rate, 0.0002);
  EXPECT_DOUBLE_EQ(apple.lambda_validation, 1);
  EXPECT_DOUBLE_EQ(apple.lambda_reconstr, 10);
  EXPECT_DOUBLE_EQ(apple.lambda_id, 2);
  const TrainConfig monet = load_train_config(testing::source_dir() / "configs/monet2photo.yaml");
  EXPECT_EQ(monet.input_dim, 256);
  EXPECT_EQ(monet.generator_type, "resnet");
  EXPECT_DOUBLE_EQ(monet.lambda_id, 5);
  EXPECT_EQ(monet.disc_n_filters, 64);
  const TrainConfig horse = load_train_config(testing::source_dir() / "configs/horse2zebra.yaml");
  EXPECT_EQ(horse.generator_type, "resnet_9blocks");
  EXPECT_EQ(horse.load_size, 286);
  EXPECT_EQ(horse.epochs, 100);
  EXPECT_EQ(horse.decay_epochs, 100);
}

TEST_F(ConfigFile, UnknownKeyIsNamedWithTheNearestValidKey) {
  const std::string message = error_for("train:\n  lamda_id: 3\n");
  EXPECT_NE(message.find("config.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("'train.lamda_id'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'train.lambda_id'"), std::string::npos) << message;
}

TEST_F(ConfigFile, UnknownSectionIsNamed) {
  const std::string message = error_for("trian:\n  epochs: 3\n");
  EXPECT_NE(message.find("unknown section 'trian'"), std::string::npos) << message;
  EXPECT_NE(message.find("'train"), std::string::npos) << message;
}

TEST_F(ConfigFile, WrongTypeNamesKeyValueAndExpectedType) {
  std::string message = error_for("model:\n  input_dim: big\n");
  EXPECT_NE(message.find("'model.input_dim' must be an integer, got 'big'"), std::string::npos)
      << message;
  message = error_for("train:\n  learning_rate: fast\n");
  EXPECT_NE(message.find("'train.learning_rate' must be a finite number"), std::string::npos)
      << message;
  message = error_for("data:\n  flip: maybe\n");
  EXPECT_NE(message.find("'data.flip' must be true or false"), std::string::npos) << message;
  message = error_for("model:\n  input_dim: [1, 2]\n");
  EXPECT_NE(message.find("'model.input_dim'"), std::string::npos) << message;
}

TEST_F(ConfigFile, NegativeLambdaIsRejectedWithItsValue) {
  const std::string message = error_for("train:\n  lambda_reconstr: -1\n");
  EXPECT_NE(message.find("key 'train.lambda_reconstr' must be >= 0, got -1"), std::string::npos)
      << message;
}

TEST_F(ConfigFile, UnknownGeneratorListsTheValidOnes) {
  const std::string message = error_for("model:\n  generator_type: vgg\n");
  EXPECT_NE(message.find("'model.generator_type'"), std::string::npos) << message;
  EXPECT_NE(message.find("resnet_9blocks"), std::string::npos) << message;
  EXPECT_NE(message.find("'vgg'"), std::string::npos) << message;
}

TEST_F(ConfigFile, ImageSizeMustSuitTheGenerator) {
  const std::string message = error_for("model:\n  generator_type: unet_256\n  input_dim: 128\n");
  EXPECT_NE(message.find("multiple of 256"), std::string::npos) << message;
}

TEST_F(ConfigFile, PrecisionIsFp32OrBf16) {
  EXPECT_EQ(load_train_config(write("train:\n  precision: bf16\n")).precision, "bf16");
  EXPECT_EQ(load_train_config(write("train:\n  epochs: 3\n")).precision, "fp32");
  const std::string message = error_for("train:\n  precision: fp16\n");
  EXPECT_NE(message.find("'train.precision' must be fp32 or bf16, got 'fp16'"), std::string::npos)
      << message;
}

TEST_F(ConfigFile, LearningRatePolicyIsOneOfTheOfficialFour) {
  EXPECT_EQ(load_train_config(write("train:\n  epochs: 3\n")).lr_policy, "linear");
  const TrainConfig step =
      load_train_config(write("train:\n  lr_policy: step\n  lr_step_epochs: 7\n"));
  EXPECT_EQ(step.lr_policy, "step");
  EXPECT_EQ(step.lr_step_epochs, 7);
  std::string message = error_for("train:\n  lr_policy: exponential\n");
  EXPECT_NE(message.find("key 'train.lr_policy' must be linear, step, plateau or cosine, got "
                         "'exponential'"),
            std::string::npos)
      << message;
  message = error_for("train:\n  lr_step_epochs: 0\n");
  EXPECT_NE(message.find("train.lr_step_epochs"), std::string::npos) << message;
  EXPECT_NE(message.find("must be >= 1, got 0"), std::string::npos) << message;
  message = error_for("train:\n  lr_policy: cosine\n  epochs: 0\n  decay_epochs: 5\n");
  EXPECT_NE(message.find("key 'train.epochs' must be >= 1 with lr_policy cosine"),
            std::string::npos)
      << message;
}

TEST_F(ConfigFile, GanModeIsOneOfTheOfficialThree) {
  EXPECT_EQ(load_train_config(write("train:\n  epochs: 3\n")).gan_mode, "lsgan");
  const TrainConfig wgan = load_train_config(write("train:\n  gan_mode: wgangp\n  lambda_gp: 0\n"));
  EXPECT_EQ(wgan.gan_mode, "wgangp");
  EXPECT_EQ(wgan.lambda_gp, 0.0);
  std::string message = error_for("train:\n  gan_mode: hinge\n");
  EXPECT_NE(message.find("key 'train.gan_mode' must be lsgan, vanilla or wgangp, got 'hinge'"),
            std::string::npos)
      << message;
  message = error_for("train:\n  lambda_gp: -1\n");
  EXPECT_NE(message.find("train.lambda_gp"), std::string::npos) << message;
}

TEST_F(ConfigFile, InitTypeIsOneOfTheOfficialFour) {
  const TrainConfig defaults = load_train_config(write("train:\n  epochs: 3\n"));
  EXPECT_EQ(defaults.init_type, "normal");
  EXPECT_EQ(defaults.init_gain, 0.02);
  EXPECT_EQ(load_train_config(write("model:\n  init_type: orthogonal\n")).init_type, "orthogonal");
  std::string message = error_for("model:\n  init_type: uniform\n");
  EXPECT_NE(message.find("key 'model.init_type' must be normal, xavier, kaiming or orthogonal, "
                         "got 'uniform'"),
            std::string::npos)
      << message;
  message = error_for("model:\n  init_gain: -0.1\n");
  EXPECT_NE(message.find("model.init_gain"), std::string::npos) << message;
}

TEST_F(ConfigFile, DiscriminatorIsPatchganOrPixel) {
  EXPECT_EQ(load_train_config(write("train:\n  epochs: 3\n")).disc_type, "patchgan");
  // A pixel discriminator has no depth to fit: any image size and disc_n_layers pass.
  const TrainConfig pixel =
      load_train_config(write("model:\n  disc_type: pixel\n  input_dim: 16\n  disc_n_layers: 9\n"));
  EXPECT_EQ(pixel.disc_type, "pixel");
  const std::string message = error_for("model:\n  disc_type: global\n");
  EXPECT_NE(message.find("key 'model.disc_type' must be patchgan or pixel, got 'global'"),
            std::string::npos)
      << message;
}

TEST_F(ConfigFile, NormIsInstanceBatchOrNone) {
  EXPECT_EQ(load_train_config(write("train:\n  epochs: 3\n")).norm, "instance");
  for (const std::string norm : {"instance", "batch", "none"}) {
    EXPECT_EQ(load_train_config(write("model:\n  norm: " + norm + "\n")).norm, norm);
  }
  const std::string message = error_for("model:\n  norm: layer\n");
  EXPECT_NE(message.find("key 'model.norm' must be instance, batch or none, got 'layer'"),
            std::string::npos)
      << message;
}

TEST_F(ConfigFile, DataSelectionAndPreprocessKeysOfTheOfficialTrainer) {
  const TrainConfig defaults = load_train_config(write("train:\n  epochs: 3\n"));
  EXPECT_EQ(defaults.max_dataset_size, 0);
  EXPECT_FALSE(defaults.serial_batches);
  EXPECT_EQ(defaults.direction, "AtoB");
  const TrainConfig set = load_train_config(
      write("data:\n  max_dataset_size: 10\n  serial_batches: true\n  direction: BtoA\n"));
  EXPECT_EQ(set.max_dataset_size, 10);
  EXPECT_TRUE(set.serial_batches);
  EXPECT_EQ(set.direction, "BtoA");
  std::string message = error_for("data:\n  direction: AtoA\n");
  EXPECT_NE(message.find("key 'data.direction' must be AtoB or BtoA, got 'AtoA'"),
            std::string::npos)
      << message;
  message = error_for("data:\n  preprocess: scale_height\n");
  EXPECT_NE(message.find("key 'data.preprocess' must be resize_and_crop, crop, scale_width, "
                         "scale_width_and_crop or none, got 'scale_height'"),
            std::string::npos)
      << message;
  for (const std::string mode : {"crop", "scale_width", "scale_width_and_crop", "none"}) {
    EXPECT_EQ(load_train_config(write("data:\n  preprocess: " + mode + "\n")).preprocess, mode);
  }
  EXPECT_TRUE(load_train_config(write("data:\n  preprocess: none\n")).keeps_image_shapes());
  // The gradient penalty mixes real images and pooled fakes: they must share a shape.
  message = error_for("data:\n  preprocess: scale_width\ntrain:\n  gan_mode: wgangp\n");
  EXPECT_NE(message.find("key 'train.lambda_gp' must be 0 with data.preprocess scale_width"),
            std::string::npos)
      << message;
  EXPECT_EQ(load_train_config(write("data:\n  preprocess: scale_width\ntrain:\n  gan_mode: "
                                    "wgangp\n  pool_size: 0\n"))
                .pool_size,
            0);
  message = error_for("data:\n  max_dataset_size: -3\n");
  EXPECT_NE(message.find("data.max_dataset_size"), std::string::npos) << message;
}

TEST_F(ConfigFile, DomainChannelsAreOneOrThreeAndIdentityNeedsThemEqual) {
  const TrainConfig defaults = load_train_config(write("train:\n  epochs: 3\n"));
  EXPECT_EQ(defaults.channels_a(), 3);
  EXPECT_EQ(defaults.channels_b(), 3);
  const TrainConfig gray_to_colour =
      load_train_config(write("model:\n  input_nc: 1\ntrain:\n  lambda_id: 0\n"));
  EXPECT_EQ(gray_to_colour.channels_a(), 1);
  EXPECT_EQ(gray_to_colour.channels_b(), 3);
  std::string message = error_for("model:\n  input_nc: 1\n");
  EXPECT_NE(message.find("key 'train.lambda_id' must be 0 when domain A has 1 channel(s) and "
                         "domain B 3"),
            std::string::npos)
      << message;
  message = error_for("model:\n  output_nc: 2\n");
  EXPECT_NE(message.find("key 'model.output_nc' must be 1 or 3 (or 0: model.channels), got 2"),
            std::string::npos)
      << message;
  message = error_for("model:\n  channels: 4\n");
  EXPECT_NE(message.find("key 'model.channels' must be 1 or 3, got 4"), std::string::npos)
      << message;
}

TEST_F(ConfigFile, PerDirectionCycleWeightsDefaultToLambdaReconstr) {
  const TrainConfig defaults = load_train_config(write("train:\n  lambda_reconstr: 7\n"));
  EXPECT_EQ(defaults.cycle_weight_a(), 7);
  EXPECT_EQ(defaults.cycle_weight_b(), 7);
  const TrainConfig set =
      load_train_config(write("train:\n  lambda_reconstr_a: 10\n  lambda_reconstr_b: 0\n"));
  EXPECT_EQ(set.cycle_weight_a(), 10);
  EXPECT_EQ(set.cycle_weight_b(), 0);
  std::string message = error_for("train:\n  lambda_reconstr_b: -0.5\n");
  EXPECT_NE(message.find("key 'train.lambda_reconstr_b' must be >= 0, or -1 for lambda_reconstr, "
                         "got -0.5"),
            std::string::npos)
      << message;
  message = error_for("train:\n  lambda_reconstr: 0\n  lambda_reconstr_a: 3\n");
  EXPECT_NE(message.find("key 'train.lambda_reconstr' must be > 0 when lambda_reconstr_a and "
                         "lambda_reconstr_b differ"),
            std::string::npos)
      << message;
}

TEST_F(ConfigFile, NonMapAndEmptyFilesAreRejected) {
  EXPECT_NE(error_for("- a\n- b\n").find("got a list"), std::string::npos);
  EXPECT_NE(error_for("").find("empty"), std::string::npos);
  EXPECT_NE(error_for("model: [unclosed\n").find("not valid YAML"), std::string::npos);
  EXPECT_NE(error_for("model: 3\n").find("section 'model'"), std::string::npos);
}

TEST_F(ConfigFile, MissingFileIsNamed) {
  try {
    load_train_config(dir_ / "nope.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.yaml"), std::string::npos);
  }
}

TEST_F(ConfigFile, BookSpellingsOfGeneratorsAreAccepted) {
  EXPECT_EQ(load_train_config(write("model:\n  generator_type: u-net\n")).generator_type, "u-net");
  EXPECT_NO_THROW(load_train_config(write("model:\n  generator_type: resnet\n  input_dim: 64\n")));
}

TEST(ConfigOverride, SetsQualifiedAndUniqueBareKeys) {
  TrainConfig config;
  apply_override(config, "train.lambda_id=0");
  apply_override(config, "input_dim=64");
  apply_override(config, "data.flip=false");
  apply_override(config, "output.dir=runs/x y");
  EXPECT_DOUBLE_EQ(config.lambda_id, 0);
  EXPECT_EQ(config.input_dim, 64);
  EXPECT_FALSE(config.flip);
  EXPECT_EQ(config.output_dir, "runs/x y");
}

TEST(ConfigOverride, UnknownOrMalformedOverridesNameTheKey) {
  TrainConfig config;
  try {
    apply_override(config, "train.learnig_rate=0.1");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'train.learning_rate'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(apply_override(config, "train.epochs"), ConfigError);
  EXPECT_THROW(apply_override(config, "train.epochs=-3"), ConfigError);
}

TEST(ConfigYaml, WrittenConfigReadsBackToTheSameValues) {
  TrainConfig config;
  config.learning_rate = 0.000123;
  config.lambda_id = 0.5;
  config.output_dir = "runs/with \"quotes\"";
  config.flip = false;
  config.generator_type = "resnet_6blocks";
  config.input_dim = 64;
  testing::TempDir dir;
  std::ofstream(dir / "resolved.yaml") << to_yaml(config);
  const TrainConfig read = load_train_config(dir / "resolved.yaml");
  EXPECT_EQ(to_yaml(read), to_yaml(config));
  EXPECT_DOUBLE_EQ(read.learning_rate, 0.000123);
  EXPECT_EQ(read.output_dir, config.output_dir);
}

TEST(ConfigYaml, ControlCharactersInStringsReadBack) {
  // A line break or control byte in a path must not be folded or rejected on the way back.
  TrainConfig config;
  config.data_root = std::string("data/a\nb\tc\x01d\x7F");
  const TrainConfig read = parse_train_config(to_yaml(config), "resolved.yaml");
  EXPECT_EQ(read.data_root, config.data_root);
}

// Inputs the config fuzzer once found (fuzz/regressions/fuzz_config): each is a ConfigError
// naming the key, or a config that validates and reads back to itself; never another exception.
TEST(ConfigFuzzRegressions, OddKeysAndExtremeNumbersAreConfigErrors) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"? :\n", "a section name (line 1) must be a plain name"},
      {"? [a, b]\n: 1\n", "must be a plain name, got a list"},
      {"model:\n  ? {x: 1}\n  : 2\n", "a key in section 'model' (line 2) must be a plain name"},
      {"model:\n  disc_n_layers: 64\n", "key 'model.disc_n_layers' = 64 leaves no patch"},
      {"train:\n  epochs: 0\n  decay_epochs: 0\n",
       "'train.epochs' + 'train.decay_epochs' must be >= 1"},
      {"train:\n  beta1: 1e-400\n", "'train.beta1' must be a finite number, got '1e-400'"},
  };
  for (const auto& [text, expected] : refused) {
    std::string message = "(loaded)";
    try {
      validate(parse_train_config(text, "fuzzed.yaml"), "fuzzed.yaml");
    } catch (const ConfigError& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("fuzzed.yaml"), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << text << " gave: " << message;
  }
  // The largest epoch count no longer overflows the check (the sum once did).
  EXPECT_NO_THROW(validate(
      parse_train_config("train:\n  epochs: 9223372036854775807\n  decay_epochs: 1\n", "e.yaml"),
      "e.yaml"));
  // A subnormal number is a number: kept, and written so that it reads back the same.
  const TrainConfig subnormal = parse_train_config("train:\n  beta1: 0x1p-1074\n", "s.yaml");
  EXPECT_GT(subnormal.beta1, 0.0);
  EXPECT_EQ(parse_train_config(to_yaml(subnormal), "s2.yaml").beta1, subnormal.beta1);
}

TEST(ConfigDocs, EveryKeyIsDocumented) {
  const auto docs = config_key_docs();
  EXPECT_GE(docs.size(), 25u);
  for (const auto& doc : docs) {
    EXPECT_FALSE(doc.description.empty()) << doc.name;
    EXPECT_NE(doc.name.find('.'), std::string::npos) << doc.name;
  }
}

}  // namespace
}  // namespace cyclegan
