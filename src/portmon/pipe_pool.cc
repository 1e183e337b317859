#include "portmon/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace coracle::portmon {

Pipe PipePool::take() {
  if (!spare_.empty()) {
    Pipe p = std::move(spare_.back());
    spare_.pop_back();
    return p;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return {};
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void PipePool::give(Pipe pipe, bool empty_default) {
  if (empty_default && pipe.read && spare_.size() < kMaxSpare) spare_.push_back(std::move(pipe));
}

}  // namespace coracle::portmon
