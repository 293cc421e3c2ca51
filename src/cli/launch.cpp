// `cyclegan train --nproc N`: what torchrun does for one machine, for machines without it. The
// parent starts N copies of this command line (without --nproc) with the torch.distributed
// environment set, forwards stop signals, and reports how each worker ended.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "cyclegan/errors.h"

namespace cyclegan::cli {

namespace {

std::vector<pid_t> worker_pids;  // read by the signal handler

extern "C" void forward_stop_signal(int) {
  // Workers stop together after their current step (they agree on it), then checkpoint.
  for (const pid_t pid : worker_pids) {
    if (pid > 0) ::kill(pid, SIGTERM);
  }
}

// This process's own command line, less --nproc and its value.
std::vector<std::string> worker_arguments() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::string> arguments;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\0', start);
    arguments.push_back(all.substr(start, end - start));
    start = end == std::string::npos ? all.size() : end + 1;
  }
  std::vector<std::string> kept;
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (arguments[i].rfind("--nproc=", 0) == 0) continue;
    kept.push_back(arguments[i]);
  }
  return kept;
}

// A TCP port free on the loopback interface now (the store binds it a moment later).
int free_loopback_port() {
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) throw DataError(std::string("--nproc: socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(socket_fd);
    throw DataError("--nproc: cannot find a free port on 127.0.0.1: " + reason);
  }
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

int launch_local_workers(int64_t nproc, double timeout_seconds) {
  const std::vector<std::string> arguments = worker_arguments();
  const std::string port = std::to_string(free_loopback_port());
  std::cerr << "cyclegan: starting " << nproc << " workers on 127.0.0.1:" << port << "\n";

  worker_pids.assign(static_cast<size_t>(nproc), 0);
  std::signal(SIGINT, forward_stop_signal);
  std::signal(SIGTERM, forward_stop_signal);
  for (int64_t rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << "error: --nproc: cannot start worker " << rank << ": " << std::strerror(errno)
                << "\n";
      forward_stop_signal(SIGTERM);
      return 1;
    }
    if (pid == 0) {
      // The worker: this command line, with the environment torchrun would give it.
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<char*> argv;
      for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::cerr << "error: --nproc: cannot start worker " << rank << ": " << std::strerror(errno)
                << "\n";
      ::_exit(127);
    }
    worker_pids[static_cast<size_t>(rank)] = pid;
  }

  // Wait for every worker. Once one has failed, the others stop by themselves within the
  // process-group timeout (naming the rank); past that and a margin, they are killed.
  int exit_code = 0;
  int64_t running = nproc;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno != EINTR) break;
    if (pid <= 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (size_t rank = 0; rank < worker_pids.size(); ++rank) {
          if (worker_pids[rank] <= 0) continue;
          std::cerr << "cyclegan: worker " << rank << " still running " << timeout_seconds
                    << " s after another failed; killing it\n";
          ::kill(worker_pids[rank], SIGKILL);
        }
        deadline = std::chrono::steady_clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (size_t rank = 0; rank < worker_pids.size(); ++rank) {
      if (worker_pids[rank] != pid) continue;
      worker_pids[rank] = 0;
      --running;
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (clean) break;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (exit_code == 0) {
        exit_code = code;
        const bool interrupted = WIFEXITED(status) && WEXITSTATUS(status) == 130;
        if (!interrupted) {
          std::cerr << "cyclegan: worker " << rank << " (pid " << pid << ") "
                    << describe_exit(status) << "\n";
          deadline = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)) +
                     std::chrono::seconds(30);
        }
      }
      break;
    }
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return exit_code;
}

}  // namespace cyclegan::cli
