// coracle's one error type. It carries the exit status the CLI should end
// with (125 when coracle itself failed, by the podman/docker convention) and a
// message that says what failed, on which path, and what to do.
#pragma once
#include <stdexcept>
#include <string>

namespace coracle {

inline constexpr int kExitInternal = 125;
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitInternal)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Throws Error("<what>: <strerror(err)>").
[[noreturn]] void throw_errno(const std::string& what, int err);
// The same with the current errno.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace coracle
