#include "cyclegan/distributed.h"

#include <torch/torch.h>

// The Gloo process group's declarations are compiled only with this defined (as in LibTorch's own
// build); defined here rather than by CMake so the precompiled header stays valid.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cyclegan/errors.h"

namespace cyclegan {

namespace {

using Milliseconds = std::chrono::milliseconds;

// How often each rank bumps its heartbeat counter in the store, and how long a survivor watches
// the counters before naming the ranks that no longer bump theirs.
constexpr Milliseconds kHeartbeatInterval{500};
constexpr Milliseconds kHeartbeatWatch{2000};
// Gradients travel in flat buckets of about this size, as in PyTorch's DistributedDataParallel:
// few enough collectives to amortise their latency, several so that reduction overlaps.
constexpr int64_t kBucketBytes = 25 << 20;

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

int64_t environment_integer(const char* name, int64_t min_value, int64_t max_value,
                            std::optional<int64_t> fallback) {
  const auto text = environment(name);
  if (!text || text->empty()) {
    if (fallback) return *fallback;
    throw ConfigError(std::string("environment variable ") + name +
                      " is not set; a distributed launch (WORLD_SIZE is set) needs RANK, "
                      "WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun sets them");
  }
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || value < min_value || value > max_value) {
    throw ConfigError(std::string("environment variable ") + name + " is '" + *text +
                      "'; expected an integer from " + std::to_string(min_value) + " to " +
                      std::to_string(max_value));
  }
  return value;
}

std::string first_line(std::string text) {
  const auto newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}

std::vector<uint8_t> to_bytes(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

}  // namespace

std::optional<LaunchEnvironment> launch_environment_from_env() {
  if (!environment("WORLD_SIZE")) return std::nullopt;
  LaunchEnvironment launch;
  launch.world_size = environment_integer("WORLD_SIZE", 1, 1 << 20, std::nullopt);
  launch.rank = environment_integer("RANK", 0, launch.world_size - 1, std::nullopt);
  launch.local_rank = environment_integer("LOCAL_RANK", 0, launch.world_size - 1, launch.rank);
  launch.local_world_size =
      environment_integer("LOCAL_WORLD_SIZE", 1, launch.world_size, launch.world_size);
  if (launch.world_size == 1) return launch;
  const auto address = environment("MASTER_ADDR");
  if (!address || address->empty()) {
    throw ConfigError(
        "environment variable MASTER_ADDR is not set; a distributed launch (WORLD_SIZE is set) "
        "needs the host of rank 0 (or of torchrun's store) there");
  }
  launch.master_addr = *address;
  launch.master_port = environment_integer("MASTER_PORT", 1, 65535, std::nullopt);
  launch.agent_store = environment("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  launch.restart_count = environment("TORCHELASTIC_RESTART_COUNT").value_or("0");
  return launch;
}

struct ProcessGroup::Impl {
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string backend;
  std::string store_address;
  bool agent_store = false;
  Milliseconds timeout{0};

  c10::intrusive_ptr<c10d::Store> store;            // ours, under the "cyclegan/" prefix
  c10::intrusive_ptr<c10d::Store> heartbeat_store;  // its own connection, for the thread
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  std::atomic<int64_t> collectives{0};  // entered so far: the same sequence on every rank
  int64_t gathers = 0;

  std::thread heartbeat;
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_wake;
  bool heartbeat_stop = false;

  std::string key(const std::string& kind, int64_t of_rank) const {
    return kind + "/" + std::to_string(of_rank);
  }

  // Before every collective: how far this rank got, for diagnose() on another rank.
  void entering() {
    ++collectives;
    try {
      store->set(key("entered", rank), to_bytes(std::to_string(collectives.load())));
    } catch (const std::exception&) {
      // The collective itself will fail and say why; the store is only for diagnosis.
    }
  }

  // Which ranks stopped: the ones whose heartbeat no longer advances (dead, stopped, or hung
  // whole) and the ones that never entered the collective that failed (hung in their own work).
  std::string diagnose() {
    try {
      store->setTimeout(Milliseconds(3000));
      std::vector<int64_t> before(static_cast<size_t>(world_size));
      for (int64_t r = 0; r < world_size; ++r)
        before[static_cast<size_t>(r)] = store->add(key("heartbeat", r), 0);
      std::this_thread::sleep_for(kHeartbeatWatch);
      std::vector<std::string> silent;
      std::vector<std::string> behind;
      const int64_t mine = collectives.load();
      for (int64_t r = 0; r < world_size; ++r) {
        if (r == rank) continue;
        if (store->add(key("heartbeat", r), 0) == before[static_cast<size_t>(r)]) {
          silent.push_back(std::to_string(r));
          continue;
        }
        int64_t entered = 0;
        if (store->check({key("entered", r)})) {
          const auto bytes = store->get(key("entered", r));
          entered = std::stoll(std::string(bytes.begin(), bytes.end()));
        }
        if (entered < mine) behind.push_back(std::to_string(r));
      }
      auto join = [](const std::vector<std::string>& ranks) {
        std::string text;
        for (const auto& r : ranks) text += (text.empty() ? "" : ", ") + r;
        return text;
      };
      std::string diagnosis;
      if (!silent.empty()) {
        diagnosis = "rank " + join(silent) + " stopped responding (no heartbeat for " +
                    std::to_string(kHeartbeatWatch.count() / 1000) +
                    " s: the process died, was killed or is stopped)";
      }
      if (!behind.empty()) {
        diagnosis += std::string(diagnosis.empty() ? "" : "; ") + "rank " + join(behind) +
                     " is alive but never reached this collective (hung, or running different "
                     "code or configuration)";
      }
      return diagnosis.empty() ? "every other rank is still alive and reached this collective"
                               : diagnosis;
    } catch (const std::exception&) {
      return "the rendezvous store at " + store_address + " is unreachable too, so " +
             (agent_store ? std::string("torchrun's agent")
                          : std::string("rank 0, which hosts it,")) +
             " is gone";
    }
  }

  [[noreturn]] void fail(const std::string& what, const std::string& error) {
    const std::string diagnosis = diagnose();
    throw DistributedError("rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                           ": " + what + " failed (" + first_line(error) + "): " + diagnosis +
                           ". This rank stops too; checkpoints already written are complete.");
  }

  template <typename Function>
  auto guarded(const std::string& what, Function&& function) -> decltype(function()) {
    try {
      return function();
    } catch (const DistributedError&) {
      throw;
    } catch (const c10::Error& e) {
      fail(what, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(what, e.what());
    }
  }

  void heartbeat_loop() {
    std::unique_lock<std::mutex> lock(heartbeat_mutex);
    while (!heartbeat_stop) {
      lock.unlock();
      try {
        heartbeat_store->add(key("heartbeat", rank), 1);
      } catch (const std::exception&) {
        // The store's host is gone; the next collective reports it.
      }
      lock.lock();
      heartbeat_wake.wait_for(lock, kHeartbeatInterval, [&] { return heartbeat_stop; });
    }
  }
};

ProcessGroup::ProcessGroup(const LaunchEnvironment& launch, const ProcessGroupOptions& options)
    : impl_(std::make_unique<Impl>()) {
  // Gloo writes to its peers with writev(), which raises SIGPIPE when a peer has died; its
  // default action would kill this rank silently (exit 141) before Gloo could report the error.
  // Python ignores SIGPIPE at start-up, which c10d relies on; do the same.
  std::signal(SIGPIPE, SIG_IGN);
  Impl& impl = *impl_;
  impl.rank = launch.rank;
  impl.world_size = launch.world_size;
  impl.agent_store = launch.agent_store;
  impl.store_address = launch.master_addr + ":" + std::to_string(launch.master_port);
  impl.timeout = Milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000));
  impl.backend = options.backend == "auto" ? (options.on_cuda ? "nccl" : "gloo") : options.backend;
  if (impl.backend == "nccl") {
    // Debian's LibTorch is built without CUDA and NCCL; Gloo reduces CUDA tensors too.
    if (options.backend == "nccl") {
      throw ConfigError(
          "key 'distributed.backend' is 'nccl' but this LibTorch has no NCCL process group "
          "(Debian's is CPU-only); use gloo");
    }
    impl.backend = "gloo";
  }
  if (impl.backend != "gloo") {
    throw ConfigError("key 'distributed.backend' must be auto, gloo or nccl, got '" +
                      options.backend + "'");
  }

  auto connect = [&](bool server) -> c10::intrusive_ptr<c10d::Store> {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(launch.master_port);
    store_options.isServer = server;
    store_options.numWorkers = static_cast<int>(launch.world_size);
    store_options.waitWorkers = false;  // the process group's own rendezvous waits for everyone
    store_options.timeout = impl.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, store_options);
    // torchrun's agent keys every attempt's workers apart, as PyTorch's env:// rendezvous does.
    const std::string prefix =
        launch.agent_store ? "/worker/attempt_" + launch.restart_count + "/cyclegan" : "cyclegan";
    return c10::make_intrusive<c10d::PrefixStore>(prefix, tcp);
  };
  try {
    impl.store = connect(!launch.agent_store && launch.rank == 0);
    impl.heartbeat_store = connect(false);
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(impl.timeout);
    if (const auto interface = environment("GLOO_SOCKET_IFNAME")) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*interface));
    } else if (launch.master_addr == "localhost" || launch.master_addr.rfind("127.", 0) == 0) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    gloo_options->threads = 2;
    impl.group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", impl.store), static_cast<int>(launch.rank),
        static_cast<int>(launch.world_size), gloo_options);
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (const auto* error = dynamic_cast<const c10::Error*>(&e))
      message = error->what_without_backtrace();
    throw DistributedError(
        "rank " + std::to_string(launch.rank) + " of " + std::to_string(launch.world_size) +
        ": cannot join the process group through the store at " + impl.store_address + " within " +
        std::to_string(static_cast<int64_t>(options.timeout_seconds)) + " s (" +
        first_line(message) + "); check MASTER_ADDR/MASTER_PORT and that every rank was started");
  }
  impl.heartbeat = std::thread([&impl] { impl.heartbeat_loop(); });
}

ProcessGroup::~ProcessGroup() {
  {
    std::lock_guard<std::mutex> lock(impl_->heartbeat_mutex);
    impl_->heartbeat_stop = true;
  }
  impl_->heartbeat_wake.notify_all();
  impl_->heartbeat.join();
}

int64_t ProcessGroup::rank() const { return impl_->rank; }
int64_t ProcessGroup::world_size() const { return impl_->world_size; }
const std::string& ProcessGroup::backend() const { return impl_->backend; }

std::function<void()> ProcessGroup::start_average(const std::vector<at::Tensor>& tensors,
                                                  const std::string& what) {
  struct Bucket {
    at::Tensor flat;
    std::vector<at::Tensor> members;
    c10::intrusive_ptr<c10d::Work> work;
  };
  auto buckets = std::make_shared<std::vector<Bucket>>();
  impl_->entering();
  impl_->guarded(what, [&] {
    torch::NoGradGuard no_grad;
    size_t first = 0;
    while (first < tensors.size()) {
      Bucket bucket;
      int64_t bytes = 0;
      std::vector<at::Tensor> flat_parts;
      for (; first < tensors.size() && (bucket.members.empty() || bytes < kBucketBytes); ++first) {
        bucket.members.push_back(tensors[first]);
        flat_parts.push_back(tensors[first].reshape(-1));
        bytes += tensors[first].numel() * static_cast<int64_t>(tensors[first].element_size());
      }
      bucket.flat = at::cat(flat_parts);
      std::vector<at::Tensor> one{bucket.flat};
      bucket.work = impl_->group->allreduce(one);
      buckets->push_back(std::move(bucket));
    }
    return 0;
  });
  Impl* impl = impl_.get();
  return [impl, buckets, what] {
    impl->guarded(what, [&] {
      torch::NoGradGuard no_grad;
      for (Bucket& bucket : *buckets) {
        bucket.work->wait();
        bucket.flat.div_(static_cast<double>(impl->world_size));
        int64_t offset = 0;
        for (at::Tensor& member : bucket.members) {
          member.copy_(bucket.flat.narrow(0, offset, member.numel()).view_as(member));
          offset += member.numel();
        }
      }
      return 0;
    });
  };
}

void ProcessGroup::broadcast_from_rank0(const std::vector<at::Tensor>& tensors,
                                        const std::string& what) {
  if (tensors.empty()) return;
  impl_->entering();
  impl_->guarded(what, [&] {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> flat_parts;
    for (const auto& tensor : tensors) flat_parts.push_back(tensor.reshape(-1));
    std::vector<at::Tensor> flat{at::cat(flat_parts)};
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    impl_->group->broadcast(flat, options)->wait();
    int64_t offset = 0;
    for (const auto& tensor : tensors) {
      at::Tensor target = tensor;
      target.copy_(flat[0].narrow(0, offset, tensor.numel()).view_as(tensor));
      offset += tensor.numel();
    }
    return 0;
  });
}

std::vector<double> ProcessGroup::sum(const std::vector<double>& values, const std::string& what) {
  impl_->entering();
  return impl_->guarded(what, [&] {
    std::vector<at::Tensor> one{
        torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).clone()};
    impl_->group->allreduce(one)->wait();
    std::vector<double> result(values.size());
    for (size_t i = 0; i < values.size(); ++i)
      result[i] = one[0][static_cast<int64_t>(i)].item<double>();
    return result;
  });
}

std::vector<std::vector<double>> ProcessGroup::all_gather(const std::vector<double>& values,
                                                          const std::string& what) {
  impl_->entering();
  return impl_->guarded(what, [&] {
    const auto options = torch::TensorOptions().dtype(torch::kFloat64);
    std::vector<at::Tensor> input{torch::tensor(values, options).clone()};
    std::vector<std::vector<at::Tensor>> output(1);
    for (int64_t r = 0; r < impl_->world_size; ++r)
      output[0].push_back(torch::empty({static_cast<int64_t>(values.size())}, options));
    impl_->group->allgather(output, input)->wait();
    std::vector<std::vector<double>> result;
    for (const auto& tensor : output[0]) {
      const double* data = tensor.data_ptr<double>();
      result.emplace_back(data, data + tensor.numel());
    }
    return result;
  });
}

std::vector<std::string> ProcessGroup::gather_on_rank0(const std::string& bytes,
                                                       const std::string& what) {
  impl_->entering();
  const std::string prefix = "gather/" + std::to_string(impl_->gathers++) + "/";
  return impl_->guarded(what, [&] {
    std::vector<std::string> result;
    if (impl_->rank != 0) {
      impl_->store->set(prefix + std::to_string(impl_->rank), to_bytes(bytes));
      return result;
    }
    result.push_back(bytes);
    for (int64_t r = 1; r < impl_->world_size; ++r) {
      const std::string key = prefix + std::to_string(r);
      const std::vector<uint8_t> received = impl_->store->get(key);  // waits up to the timeout
      impl_->store->deleteKey(key);
      result.emplace_back(received.begin(), received.end());
    }
    return result;
  });
}

}  // namespace cyclegan
