// Pipes for TcpRelay, kept for the next connection once empty: a
// connection through the forwarder otherwise pays two pipe2() and four
// close() for them.
#pragma once
#include <vector>

#include "common/unique_fd.h"

namespace coracle::portmon {

struct Pipe {
  UniqueFd read, write;
};

class PipePool {
 public:
  // A pipe of the kernel's default capacity, non-blocking, close-on-exec;
  // an empty Pipe when none can be made (out of fds).
  Pipe take();
  // Back for reuse: only an empty pipe of the default capacity; any other
  // is closed.
  void give(Pipe pipe, bool empty_default);

 private:
  static constexpr size_t kMaxSpare = 64;
  std::vector<Pipe> spare_;
};

}  // namespace coracle::portmon
