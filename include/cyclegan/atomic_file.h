#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace cyclegan {

/// Writes `size` bytes to a temporary file beside `path`, flushes it to disk and renames it over
/// `path`, so a crash or a full disk leaves either the old file or the complete new one, never a
/// partial file. Returns false and sets `error` (the reason, e.g. "No space left on device") when
/// it fails; the temporary file is then removed and `path` is untouched.
bool write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size,
                           std::string* error);

/// Deletes the temporaries of write_file_atomically() directly inside `dir` that a killed process
/// left behind. Only call it while holding the directory's DirectoryLock.
void remove_abandoned_temporaries(const std::filesystem::path& dir);

/// An exclusive lock on a directory (flock on `dir`/.lock), held for the object's lifetime and
/// released by the kernel if the process dies, so two processes never write one run at once.
class DirectoryLock {
 public:
  /// Throws DataError naming the directory (and the holder's pid) when another process holds it.
  explicit DirectoryLock(const std::filesystem::path& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace cyclegan
