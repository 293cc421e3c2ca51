#include "cyclegan/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cyclegan {

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

bool write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size,
                           std::string* error) {
  const std::string temporary = path.string() + ".tmp" + std::to_string(::getpid());
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

}  // namespace cyclegan
