#pragma once

#include <stdexcept>
#include <string>

namespace cyclegan {

/// A configuration file, key or value is unusable; the message names the key and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An image folder or image file is unusable; the message names the path.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A checkpoint cannot be written or read; the message names the file.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Training cannot continue (for example a loss became NaN); the message names the step and term.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A data-parallel run lost a rank (died, hung, or its weights diverged); the message names the
/// rank(s) and what was going on.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cyclegan
