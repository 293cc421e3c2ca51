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

}  // namespace cyclegan
