// cyclegan_bench: times our training step and translation on synthetic tensors (no image I/O, so
// it also runs where OpenCV's data path is not wanted), counts the step's arithmetic, and writes
// the weights and inputs that bench/reference_step.py needs to check that PyTorch computes the
// same losses. bench/run.py drives it side by side with the PyTorch reference.
//
//   cyclegan_bench train --arch resnet_9blocks --size 256 --steps 5   # one JSON line
//   cyclegan_bench check --arch unet --size 64 --steps 3 --out DIR    # DIR/*.pth, losses_cpp.json
//   cyclegan_bench loader --files 10000 --size 64 --steps 200         # memory vs dataset size
//   cyclegan_bench peak                                               # matmul GFLOP/s

#include <ATen/record_function.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "cyclegan/checkpoint.h"
#include "cyclegan/data.h"
#include "cyclegan/networks.h"
#include "cyclegan/synthetic.h"
#include "cyclegan/trainer.h"
#include "kernels/kernels.h"

namespace fs = std::filesystem;
using cyclegan::TrainConfig;
using cyclegan::Trainer;

namespace {

// ---- what the process and the machine are doing -------------------------------------------

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU seconds every process on the machine has spent (user, nice, system, irq, softirq, steal).
double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return (user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // KiB on Linux
}

// Seconds since this process started (the kernel's start time, so it includes loading LibTorch).
double seconds_since_process_start() {
  std::ifstream stat_file("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(stat_file)),
                         std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // field 3 onwards
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index) {
  }
  double uptime = 0;
  std::ifstream("/proc/uptime") >> uptime;
  return uptime - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The BLAS libraries mapped into this process (Debian's alternatives pick the implementation).
std::vector<std::string> loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> names;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    const std::string name = line.substr(slash + 1);
    const bool blas = name.rfind("libblas", 0) == 0 || name.rfind("libopenblas", 0) == 0 ||
                      name.rfind("libmkl", 0) == 0 || name.rfind("libblis", 0) == 0;
    if (blas && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

// ---- arithmetic of a step ------------------------------------------------------------------

// Floating-point operations of every convolution LibTorch runs (forward and backward), counted
// from the shapes the dispatcher sees: 2 per multiply-add, gradients counted as computed.
class ConvolutionFlopCounter {
 public:
  ConvolutionFlopCounter() {
    total_ = 0;
    handle_ = at::addGlobalCallback(
        at::RecordFunctionCallback(&ConvolutionFlopCounter::on_enter).needsInputs(true));
  }
  ~ConvolutionFlopCounter() { at::removeCallback(handle_); }
  ConvolutionFlopCounter(const ConvolutionFlopCounter&) = delete;
  ConvolutionFlopCounter& operator=(const ConvolutionFlopCounter&) = delete;
  double flops() const { return static_cast<double>(total_.load()); }

 private:
  static std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction& call) {
    const std::string name = call.name();
    if (name != "aten::convolution" && name != "aten::convolution_backward") return nullptr;
    const auto inputs = call.inputs();
    const bool backward = name == "aten::convolution_backward";
    // convolution(input, weight, bias, stride, padding, dilation, transposed, ...);
    // convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
    //                      transposed, output_padding, groups, output_mask)
    const at::Tensor input = inputs[backward ? 1 : 0].toTensor();
    const at::Tensor weight = inputs[backward ? 2 : 1].toTensor();
    const bool transposed = inputs[backward ? 7 : 6].toBool();
    // Each weight element meets every position of the side that is not upsampled: the output
    // of a convolution, the input of a transposed one.
    int64_t positions = input.size(0);
    if (transposed) {
      for (int64_t d = 2; d < input.dim(); ++d) positions *= input.size(d);
    } else if (backward) {
      const at::Tensor grad_output = inputs[0].toTensor();
      for (int64_t d = 2; d < grad_output.dim(); ++d) positions *= grad_output.size(d);
    } else {
      const auto stride = inputs[3].toIntVector();
      const auto padding = inputs[4].toIntVector();
      const auto dilation = inputs[5].toIntVector();
      // One value stands for every spatial dimension (at::conv2d's defaults are {1}, {0}, {1}).
      auto at = [](const std::vector<int64_t>& values, size_t i) {
        return values.size() == 1 ? values[0] : values.at(i);
      };
      for (int64_t d = 2; d < input.dim(); ++d) {
        const size_t i = static_cast<size_t>(d - 2);
        const int64_t extent = at(dilation, i) * (weight.size(d) - 1) + 1;
        positions *= (input.size(d) + 2 * at(padding, i) - extent) / at(stride, i) + 1;
      }
    }
    int64_t products = 1;  // gradients computed: input and weight (bias is negligible)
    if (backward) {
      const auto mask = inputs[10].toBoolList();
      products = static_cast<int64_t>(mask.get(0)) + static_cast<int64_t>(mask.get(1));
    }
    total_ += 2 * weight.numel() * positions * products;
    return nullptr;
  }
  static std::atomic<int64_t> total_;
  at::CallbackHandle handle_;
};
std::atomic<int64_t> ConvolutionFlopCounter::total_{0};

// ---- JSON output ---------------------------------------------------------------------------

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[64];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

std::string json_bool(bool value) { return value ? "true" : "false"; }

std::string json_list(const std::vector<double>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + json_number(values[i]);
  return text + "]";
}

std::string json_strings(const std::vector<std::string>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", \"" : "\"") + values[i] + "\"";
  return text + "]";
}

double median(std::vector<double> values) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// ---- the measurements ----------------------------------------------------------------------

struct ModelArguments {
  std::string arch = "resnet_9blocks";
  int64_t ngf = 64;
  int64_t ndf = 64;
  int64_t size = 256;
  int64_t batch = 1;
  int64_t threads = 0;
  double lambda_id = 5;
  int64_t seed = 0;
  std::string device = "cpu";
  bool cuda_graphs = true;
  int64_t pool_size = 50;
  std::string precision = "fp32";
  std::string recipe = "official";
};

void add_model_options(CLI::App& command, ModelArguments& model) {
  command.add_option("--arch", model.arch, "generator architecture")->capture_default_str();
  command.add_option("--ngf", model.ngf, "generator filters")->capture_default_str();
  command.add_option("--ndf", model.ndf, "discriminator filters")->capture_default_str();
  command.add_option("--size", model.size, "image side")->capture_default_str();
  command.add_option("--batch", model.batch, "images per step")->capture_default_str();
  command.add_option("--threads", model.threads, "0: all cores")->capture_default_str();
  command.add_option("--lambda-id", model.lambda_id, "identity weight")->capture_default_str();
  command.add_option("--seed", model.seed)->capture_default_str();
  command.add_option("--device", model.device, "cpu, cuda, cuda:N")->capture_default_str();
  command.add_option("--cuda-graphs", model.cuda_graphs, "on CUDA, replay steps as CUDA graphs")
      ->capture_default_str();
  command.add_option("--pool-size", model.pool_size, "history pool of fakes")
      ->capture_default_str();
  command.add_option("--precision", model.precision, "fp32, bf16 (train.precision)")
      ->capture_default_str();
  command.add_option("--recipe", model.recipe, "official, fast (train.recipe)")
      ->capture_default_str();
}

TrainConfig make_config(const ModelArguments& model) {
  TrainConfig config;
  config.generator_type = model.arch;
  config.gen_n_filters = model.ngf;
  config.disc_n_filters = model.ndf;
  config.input_dim = model.size;
  config.load_size = model.size;
  config.batch_size = model.batch;
  config.lambda_id = model.lambda_id;
  config.seed = model.seed;
  config.device = model.device;
  config.cuda_graphs = model.cuda_graphs;
  config.pool_size = model.pool_size;
  config.precision = model.precision;
  config.recipe = model.recipe;
  return config;
}

// Random images in [-1, 1], [count, batch, 3, size, size], made before any timing.
at::Tensor synthetic_batches(const ModelArguments& model, int64_t count, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand({count, model.batch, 3, model.size, model.size}, generator) * 2 - 1;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

int run_train(const ModelArguments& model, int64_t steps, int64_t warmup, int64_t translate_images,
              const cyclegan::kernels::Policy& paths, const std::string& profile_out) {
  const int64_t threads = cyclegan::configure_threads(model.threads);
  const cyclegan::kernels::PolicyGuard kernel_policy(paths);
  const cyclegan::kernels::Policy available = cyclegan::kernels::available();
  Trainer trainer(make_config(model));
  const torch::Device device = trainer.device();
  const at::Tensor real_a = synthetic_batches(model, warmup + steps, 1).to(device);
  const at::Tensor real_b = synthetic_batches(model, warmup + steps, 2).to(device);

  // Start-up: from the kernel's process start to the end of the first step, as a run has it.
  trainer.step(real_a[0], real_b[0]);
  synchronize(device);
  const double startup_to_first_step = seconds_since_process_start();

  for (int64_t i = 1; i < warmup; ++i) trainer.step(real_a[i], real_b[i]);
  synchronize(device);

  std::vector<double> step_seconds;
  std::vector<double> others_cpu;
  cyclegan::StepLosses losses;
  for (int64_t i = warmup; i < warmup + steps; ++i) {
    const double busy_before = machine_busy_seconds();
    const double own_before = own_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    losses = trainer.step(real_a[i], real_b[i]);
    synchronize(device);
    step_seconds.push_back(seconds_since(start));
    others_cpu.push_back((machine_busy_seconds() - busy_before) - (own_cpu_seconds() - own_before));
  }
  std::vector<double> quiet;
  for (size_t i = 0; i < step_seconds.size(); ++i) {
    if (others_cpu[i] <= 0.1 * step_seconds[i]) quiet.push_back(step_seconds[i]);
  }

  double images_per_second = std::nan("");
  double fast_images_per_second = std::nan("");
  if (translate_images > 0) {
    auto generator = trainer.g_ab();
    generator->eval();
    c10::InferenceMode inference;
    const at::Tensor image = synthetic_batches(model, 1, 3)[0].slice(0, 0, 1).to(device);
    // Images per second over translate_images passes, after one untimed pass: `translate --exact`,
    // then (where this CPU has the kernels) `translate`'s default Winograd path.
    auto translation_rate = [&] {
      generator->forward(image);  // warm-up (and, for Winograd, the inference primitives)
      std::vector<double> image_seconds;
      for (int64_t i = 0; i < translate_images; ++i) {
        const auto start = std::chrono::steady_clock::now();
        generator->forward(image);
        synchronize(device);
        image_seconds.push_back(seconds_since(start));
      }
      return 1.0 / median(image_seconds);
    };
    images_per_second = translation_rate();
    if (paths.winograd && available.winograd_for_inference) {
      // The ResNet blocks' convolutions through Winograd without gradients.
      cyclegan::kernels::Policy fast = paths;
      fast.winograd_for_inference = true;
      const cyclegan::kernels::PolicyGuard fast_translation(fast);
      fast_images_per_second = translation_rate();
    }
  }

  // Whether the timed steps replayed CUDA graphs (the steps below do not).
  const bool cuda_graphs = trainer.replaying_cuda_graphs();
  // Read before the steps below, which are not training as a run has it.
  const double peak_rss = peak_rss_mib();
  if (!profile_out.empty()) {
    // One more step under LibTorch's profiler: a Chrome trace of every operator (our oneDNN
    // kernels appear inside their autograd nodes).
    trainer.set_cuda_graphs(false);  // a graph's replay has no operators to see
    torch::autograd::profiler::RecordProfile profile(profile_out);
    trainer.step(real_a[warmup + steps - 1], real_b[warmup + steps - 1]);
    synchronize(device);
  }
  // One more step counts the arithmetic (the counter costs nothing measurable). It sees
  // LibTorch's convolutions only, so that step runs without our oneDNN paths (Winograd, GEMM
  // convolutions, the book U-Net's upsampling as a transposed convolution): the count is the
  // direct convolutions', the same for every implementation. It comes last: LibTorch's paths
  // allocate differently, and counting during warm-up raised the measured peak memory.
  double step_flops = 0;
  {
    ConvolutionFlopCounter counter;
    trainer.set_cuda_graphs(false);
    cyclegan::kernels::Policy libtorch_convolutions = paths;
    libtorch_convolutions.winograd = false;
    libtorch_convolutions.gemm_conv = false;
    libtorch_convolutions.few_channel_conv = false;
    const cyclegan::kernels::PolicyGuard counting(libtorch_convolutions);
    trainer.step(real_a[warmup + steps - 1], real_b[warmup + steps - 1]);
    step_flops = counter.flops();
  }

  const double step_median = median(step_seconds);
  std::cout << "{\"impl\": \"cyclegan\", \"arch\": \"" << model.arch << "\", \"ngf\": " << model.ngf
            << ", \"ndf\": " << model.ndf << ", \"size\": " << model.size
            << ", \"batch\": " << model.batch << ", \"precision\": \"" << model.precision
            << "\", \"recipe\": \"" << model.recipe << "\", \"device\": \"" << device.str()
            << "\", \"threads\": " << threads << ", \"steps\": " << steps
            << ", \"step_s\": " << json_list(step_seconds)
            << ", \"step_median_s\": " << json_number(step_median) << ", \"step_min_s\": "
            << json_number(*std::min_element(step_seconds.begin(), step_seconds.end()))
            << ", \"step_max_s\": "
            << json_number(*std::max_element(step_seconds.begin(), step_seconds.end()))
            << ", \"quiet_steps\": " << quiet.size()
            << ", \"quiet_median_s\": " << json_number(median(quiet))
            << ", \"others_cpu_s\": " << json_list(others_cpu)
            << ", \"step_gflop\": " << json_number(step_flops / 1e9) << ", \"gflops_per_s\": "
            << json_number(step_flops / 1e9 / (quiet.empty() ? step_median : median(quiet)))
            << ", \"startup_to_first_step_s\": " << json_number(startup_to_first_step)
            << ", \"peak_rss_mib\": " << json_number(peak_rss)
            << ", \"translate_images_per_s\": " << json_number(images_per_second)
            << ", \"translate_fast_images_per_s\": " << json_number(fast_images_per_second)
            << ", \"losses_last\": {\"g_total\": " << json_number(losses.g_total)
            << ", \"d_a\": " << json_number(losses.d_a) << ", \"d_b\": " << json_number(losses.d_b)
            << "}, \"mkldnn\": " << (at::hasMKLDNN() ? "true" : "false")
            << ", \"blas\": " << json_strings(loaded_blas())
            << ", \"fast_kernels\": " << json_bool(cyclegan::kernels::built_with_fast_kernels())
            << ", \"winograd\": " << json_bool(paths.winograd && available.winograd)
            << ", \"gemm_conv\": " << json_bool(paths.gemm_conv && available.gemm_conv)
            << ", \"fused_adam\": " << json_bool(paths.fused_adam && available.fused_adam)
            << ", \"few_channel_conv\": "
            << json_bool(paths.few_channel_conv && available.few_channel_conv)
            << ", \"norm_kernels\": " << json_bool(paths.norm_kernels && available.norm_kernels)
            << ", \"cuda_graphs\": " << json_bool(cuda_graphs) << "}" << std::endl;
  return 0;
}

// Writes the initial weights and K input pairs for bench/reference_step.py --weights, trains K
// steps on them and writes our losses next to them.
int run_check(const ModelArguments& model, int64_t steps, const fs::path& out,
              bool deterministic_cuda) {
  cyclegan::configure_threads(model.threads);
  fs::create_directories(out);
  Trainer trainer(make_config(model));
  if (deterministic_cuda) {
    // Fixed cuDNN algorithms in full fp32, not the fastest by timing in TF32: two processes then
    // compute alike but for the order of atomic additions (reflection padding's backward).
    at::globalContext().setBenchmarkCuDNN(false);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  cyclegan::export_state_dict(out / "g_AB.pth", *trainer.g_ab());
  cyclegan::export_state_dict(out / "g_BA.pth", *trainer.g_ba());
  cyclegan::export_state_dict(out / "d_A.pth", *trainer.d_a());
  cyclegan::export_state_dict(out / "d_B.pth", *trainer.d_b());
  const at::Tensor real_a = synthetic_batches(model, steps, 1);
  const at::Tensor real_b = synthetic_batches(model, steps, 2);
  cyclegan::StateDict inputs;
  inputs.insert("real_a", real_a);
  inputs.insert("real_b", real_b);
  cyclegan::write_torch_file(out / "inputs.pth", inputs);

  std::ofstream losses_file(out / "losses_cpp.json");
  losses_file << "[";
  for (int64_t i = 0; i < steps; ++i) {
    const cyclegan::StepLosses losses = trainer.step(real_a[i], real_b[i]);
    losses_file << (i ? ", " : "") << "{\"step\": " << i + 1
                << ", \"g_validity\": " << json_number(losses.g_validity)
                << ", \"g_reconstr\": " << json_number(losses.g_reconstr)
                << ", \"g_identity\": " << json_number(losses.g_identity)
                << ", \"g_total\": " << json_number(losses.g_total)
                << ", \"d_a\": " << json_number(losses.d_a)
                << ", \"d_b\": " << json_number(losses.d_b) << "}";
  }
  losses_file << "]\n";
  std::cout << (out / "losses_cpp.json").string() << "\n";
  return 0;
}

#ifndef CYCLEGAN_BENCH_ONLY  // no image files there
// Streams `steps` batches from a folder of `files` small images per domain: the loader's memory
// must not grow with the number of files.
int run_loader(int64_t files, int64_t size, int64_t steps, const fs::path& root) {
  cyclegan::configure_threads(0);
  if (!fs::exists(root / "trainA")) {
    cyclegan::SyntheticFruitOptions options;
    options.root = root;
    options.image_size = static_cast<int>(size);
    options.train_per_domain = static_cast<int>(files);
    options.test_per_domain = 1;
    cyclegan::make_fruit_dataset(options);
  }
  const double rss_before = peak_rss_mib();
  cyclegan::UnpairedLoaderOptions options;
  options.root = root;
  options.transform.load_size = size;
  options.transform.crop_size = size;
  cyclegan::UnpairedLoader loader(options);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) loader.next();
  std::cout << "{\"files_per_domain\": " << loader.size_a() << ", \"size\": " << size
            << ", \"batches\": " << steps
            << ", \"batches_per_s\": " << json_number(steps / seconds_since(start))
            << ", \"peak_rss_before_loader_mib\": " << json_number(rss_before)
            << ", \"peak_rss_mib\": " << json_number(peak_rss_mib()) << "}" << std::endl;
  return 0;
}

#endif

// The machine's practical fp32 ceiling: the best of several large matrix products. On CUDA, in
// true fp32 (LibTorch leaves TF32 off for matrix products; cuDNN convolutions use it by default).
int run_peak(int64_t threads, const std::string& device_name) {
  const int64_t used = cyclegan::configure_threads(threads);
  const torch::Device device(device_name);
  const int64_t n = device.is_cuda() ? 8192 : 2048;
  const at::Tensor a = at::rand({n, n}).to(device);
  const at::Tensor b = at::rand({n, n}).to(device);
  at::Tensor c = at::mm(a, b);
  synchronize(device);
  double best = 0;
  for (int repeat = 0; repeat < 10; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    synchronize(device);
    best = std::max(best, 2.0 * n * n * n / seconds_since(start) / 1e9);
  }
  std::cout << "{\"threads\": " << used << ", \"device\": \"" << device.str()
            << "\", \"gflops_per_s\": " << json_number(best)
            << ", \"blas\": " << json_strings(loaded_blas()) << "}" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cyclegan_bench: training and translation timings on synthetic tensors"};
  app.require_subcommand(1);
  ModelArguments model;
  int64_t steps = 5;
  int64_t warmup = 2;
  int64_t translate_images = 0;
  fs::path out;

  CLI::App* train = app.add_subcommand("train", "time training steps; prints one JSON line");
  add_model_options(*train, model);
  train->add_option("--steps", steps, "timed steps")->capture_default_str();
  train->add_option("--warmup", warmup, "untimed steps first (>= 2)")->capture_default_str();
  train->add_option("--translate-images", translate_images, "also time this many translations");
  bool no_winograd = false;
  train->add_flag("--no-winograd", no_winograd, "LibTorch's direct 3x3 convolutions");
  std::string profile_out;
  train->add_option("--profile", profile_out,
                    "after timing, profile one more step into this Chrome trace (JSON)");
  bool no_gemm_conv = false;
  train->add_flag("--no-gemm-conv", no_gemm_conv,
                  "LibTorch's convolutions, transposed convolutions and upsample + conv");
  bool no_fused_adam = false;
  train->add_flag("--no-fused-adam", no_fused_adam, "LibTorch's Adam::step");
  bool no_few_channel_conv = false;
  train->add_flag(
      "--no-few-channel-conv", no_few_channel_conv,
      "LibTorch's convolutions for the ResNet's 7x7 layers with 3 channels on one side");
  bool no_norm_kernels = false;
  train->add_flag("--no-norm-kernels", no_norm_kernels,
                  "LibTorch's InstanceNorm and activations in training");
  bool no_weight_copies = false;
  train->add_flag("--no-weight-copies", no_weight_copies,
                  "bf16: convert the weights for every pass instead of once per update");

  CLI::App* check = app.add_subcommand("check", "write weights, inputs and our losses for K steps");
  add_model_options(*check, model);
  check->add_option("--steps", steps)->capture_default_str();
  check->add_option("--out", out)->required();
  bool deterministic_cuda = false;
  check->add_flag("--deterministic-cuda", deterministic_cuda,
                  "cuDNN's deterministic algorithms without TF32, to compare two runs");

#ifndef CYCLEGAN_BENCH_ONLY
  int64_t files = 1000;
  fs::path root;
  CLI::App* loader = app.add_subcommand("loader", "peak memory of streaming a large dataset");
  loader->add_option("--files", files, "images per domain")->capture_default_str();
  loader->add_option("--size", model.size)->capture_default_str();
  loader->add_option("--steps", steps)->capture_default_str();
  loader->add_option("--root", root, "dataset folder (made when missing)")->required();
#endif

  CLI::App* peak = app.add_subcommand("peak", "fp32 matrix-product GFLOP/s of this machine");
  peak->add_option("--threads", model.threads, "0: all cores")->capture_default_str();
  peak->add_option("--device", model.device, "cpu, cuda, cuda:N")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    // Two warm-up steps at least: the first is the start-up figure, slower than the rest
    // (oneDNN compiles its kernels, the allocator fills), and should not be the only warm-up.
    if (*train) {
      // Which of our kernel paths the run may take (all by default; the ablation turns one off).
      cyclegan::kernels::Policy paths;
      paths.winograd = !no_winograd;
      paths.gemm_conv = !no_gemm_conv;
      paths.fused_adam = !no_fused_adam;
      paths.few_channel_conv = !no_few_channel_conv;
      paths.norm_kernels = !no_norm_kernels;
      paths.bf16_weight_copies = !no_weight_copies;
      return run_train(model, steps, std::max<int64_t>(warmup, 2), translate_images, paths,
                       profile_out);
    }
    if (*check) return run_check(model, steps, out, deterministic_cuda);
    if (*peak) return run_peak(model.threads, model.device);
#ifndef CYCLEGAN_BENCH_ONLY
    return run_loader(files, model.size, steps, root);
#else
    return 1;
#endif
  } catch (const std::exception& e) {
    std::cerr << "cyclegan_bench: " << e.what() << "\n";
    return 1;
  }
}
