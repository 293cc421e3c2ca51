// The files we write for Python's torch.load: what PyTorch's weights-only unpickler accepts
// (PyTorch >= 2.6's default, the official test.py), read back by us bit for bit.
// tests/test_pytorch_parity.cpp loads them in Debian's python3-torch.

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "cyclegan/checkpoint.h"
#include "cyclegan/errors.h"
#include "cyclegan/torch_file.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// The archive's records (without the archive name) and its data.pkl.
struct Archive {
  std::vector<std::string> records;
  std::string pickle;
};

Archive read_archive(const fs::path& path) {
  caffe2::serialize::PyTorchStreamReader reader(path.string());
  Archive archive;
  archive.records = reader.getAllRecords();
  auto [data, size] = reader.getRecord("data.pkl");
  archive.pickle.assign(static_cast<const char*>(data.get()), size);
  return archive;
}

StateDict tensors_of_every_kind() {
  StateDict weights;
  weights.insert("model.1.weight", torch::randn({4, 3, 7, 7}));
  weights.insert("model.1.bias", torch::randn({4}));
  weights.insert("transposed", torch::randn({3, 5}).t());                  // not contiguous
  weights.insert("num_batches_tracked", torch::tensor(int64_t{1} << 40));  // 0-dim, LONG1 size
  weights.insert("negative_long", torch::tensor({-3, -70000, 70000}, torch::kInt64));
  weights.insert("double", torch::randn({2, 2}, torch::kFloat64));
  weights.insert("half", torch::randn({3}).to(torch::kHalf));
  weights.insert("bfloat16", torch::randn({3}).to(torch::kBFloat16));
  weights.insert("mask", torch::tensor({true, false, true}));
  weights.insert("bytes", torch::arange(0, 300, torch::kInt64).to(torch::kUInt8));
  weights.insert("empty", torch::zeros({0, 3}));
  weights.insert("five_dims", torch::randn({1, 2, 1, 2, 3}));
  return weights;
}

void expect_identical(const StateDict& read, const StateDict& written) {
  ASSERT_EQ(read.keys(), written.keys()) << "every key, in order";
  for (const auto& item : written) {
    const at::Tensor& back = read[item.key()];
    EXPECT_EQ(back.scalar_type(), item.value().scalar_type()) << item.key();
    EXPECT_EQ(back.sizes(), item.value().sizes()) << item.key();
    EXPECT_TRUE(torch::equal(back, item.value())) << item.key();
  }
}

TEST(TorchFile, StateDictPickleIsWhatTorchSaveWritesWithNoTypeTags) {
  testing::TempDir dir;
  const StateDict weights = tensors_of_every_kind();
  write_torch_file(dir / "latest_net_G.pth", weights);
  const Archive archive = read_archive(dir / "latest_net_G.pth");
  // torch.save(net.state_dict()): protocol 2, an OrderedDict, tensors by _rebuild_tensor_v2.
  const std::string opening =
      "\x80\x02"
      "ccollections\nOrderedDict\nq\x00)R"s;
  EXPECT_EQ(archive.pickle.substr(0, opening.size()), opening);
  EXPECT_NE(archive.pickle.find("ctorch._utils\n_rebuild_tensor_v2\n"), std::string::npos);
  EXPECT_EQ(archive.pickle.find("restore_type_tag"), std::string::npos);
  EXPECT_EQ(archive.pickle.find("torch.jit"), std::string::npos);
  for (const std::string record : {"data.pkl", "byteorder", "version", "data/0", "data/11"}) {
    EXPECT_NE(std::find(archive.records.begin(), archive.records.end(), record),
              archive.records.end())
        << record;
  }
  TorchFileInfo info;
  expect_identical(read_torch_file(dir / "latest_net_G.pth", &info), weights);
  EXPECT_EQ(info.format, "zip");
}

TEST(TorchFile, NetworkFilesHoldPlainDictsThatBothReadersRead) {
  testing::TempDir dir;
  PatchDiscriminator discriminator(PatchDiscriminatorOptions().ndf(8));
  NetworkInfo info;
  info.kind = "discriminator";
  info.architecture = "patchgan";
  info.filters = 8;
  info.dropout = true;
  info.input_skip = true;  // not the default, so that the round trip shows
  info.step = int64_t{1} << 33;
  info.direction = "A";
  save_network(dir / "d_A.pt", *discriminator, info);
  const Archive archive = read_archive(dir / "d_A.pt");
  EXPECT_EQ(archive.pickle.substr(0, 3), "\x80\x02}"s) << "a plain dict";
  EXPECT_EQ(archive.pickle.find("restore_type_tag"), std::string::npos);
  EXPECT_EQ(archive.pickle.find("OrderedDict\n"), archive.pickle.rfind("OrderedDict\n"))
      << "OrderedDict only as the (empty) backward hooks, which LibTorch's reader drops";

  const NetworkFile file = read_network_file(dir / "d_A.pt");  // LibTorch's torch::pickle_load
  EXPECT_EQ(file.info.kind, "discriminator");
  EXPECT_EQ(file.info.architecture, "patchgan");
  EXPECT_EQ(file.info.filters, 8);
  EXPECT_TRUE(file.info.dropout);
  EXPECT_EQ(file.info.step, int64_t{1} << 33);
  EXPECT_EQ(file.info.direction, "A");
  EXPECT_TRUE(file.info.input_skip);
  expect_identical(file.weights, state_dict(*discriminator));
  TorchFileInfo skipped;
  EXPECT_TRUE(read_torch_file(dir / "d_A.pt", &skipped).is_empty())
      << "our reader sees metadata, not a state_dict";
  EXPECT_EQ(skipped.skipped_keys.size(), 15u);  // the metadata fields and the state_dict
}

TEST(TorchFile, ManyEntriesAndLongNamesRoundTrip) {
  testing::TempDir dir;
  StateDict weights;  // three SETITEMS batches; names longer than 255 bytes
  for (int i = 0; i < 2500; ++i) {
    weights.insert("layer." + std::to_string(i) + std::string(300, 'x'), torch::full({1}, i));
  }
  write_torch_file(dir / "many.pth", weights);
  expect_identical(read_torch_file(dir / "many.pth"), weights);
}

TEST(TorchFile, AFailedWriteLeavesThePreviousFile) {
  testing::TempDir dir;
  StateDict first;
  first.insert("weight", torch::ones({2}));
  write_torch_file(dir / "g.pth", first);
  StateDict complex;
  complex.insert("weight", torch::ones({2}, torch::kComplexFloat));
  try {
    write_torch_file(dir / "g.pth", complex);
    ADD_FAILURE() << "complex tensors have no storage class we write";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("g.pth"), std::string::npos) << e.what();
  }
  expect_identical(read_torch_file(dir / "g.pth"), first);
  EXPECT_THROW(write_torch_file(dir / "missing_folder" / "g.pth", first), CheckpointError);
}

}  // namespace
}  // namespace cyclegan
