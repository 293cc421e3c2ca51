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
