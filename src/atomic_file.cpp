#include "cyclegan/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

#include "cyclegan/errors.h"

namespace cyclegan {

namespace {

std::string errno_text() { return std::strerror(errno); }

constexpr const char* kTemporarySuffix = ".tmp";

}  // namespace

bool write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size,
                           std::string* error) {
  const std::string temporary = path.string() + kTemporarySuffix + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot create " + temporary + ": " + errno_text();
    return false;
  }
  auto fail = [&](const std::string& what) {
    *error = what + ": " + errno_text();
    ::close(fd);
    ::unlink(temporary.c_str());
    return false;
  };
  const char* bytes = static_cast<const char*>(data);
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, bytes + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write " + temporary);
    written += static_cast<std::size_t>(n);
  }
  // fsync before rename: otherwise a power cut can leave the new name pointing at empty blocks.
  if (::fsync(fd) != 0) return fail("cannot flush " + temporary);
  if (::close(fd) != 0) {
    *error = "cannot close " + temporary + ": " + errno_text();
    ::unlink(temporary.c_str());
    return false;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + temporary + " to " + path.string() + ": " + errno_text();
    ::unlink(temporary.c_str());
    return false;
  }
  // Make the rename itself durable.
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  const int directory = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory >= 0) {
    ::fsync(directory);
    ::close(directory);
  }
  return true;
}

void remove_abandoned_temporaries(const std::filesystem::path& dir) {
  const std::regex temporary(std::string(".*\\") + kTemporarySuffix + "[0-9]+");
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    if (std::regex_match(it->path().filename().string(), temporary)) {
      std::error_code ignored;
      std::filesystem::remove(it->path(), ignored);
    }
  }
}

DirectoryLock::DirectoryLock(const std::filesystem::path& dir) {
  const std::filesystem::path lock_file = dir / ".lock";
  fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw DataError(lock_file.string() + ": cannot create lock file: " + errno_text());
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string reason = errno == EWOULDBLOCK ? "" : " (" + errno_text() + ")";
    std::string holder;
    std::ifstream(lock_file) >> holder;
    ::close(fd_);
    throw DataError(dir.string() + ": in use by another cyclegan process" +
                    (holder.empty() ? std::string() : " (pid " + holder + ")") + reason +
                    "; wait for it to finish or stop it first");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace cyclegan
