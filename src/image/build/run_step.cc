#include "image/build/run_step.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle::image {

constexpr size_t kTailBytes = 4096;

RunOutcome run_streamed(sandbox::Spec spec, int output_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd read_end(p[0]), write_end(p[1]);
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_in) throw_errno("cannot open /dev/null");
  spec.stdin_fd = null_in.get();
  spec.stdout_fd = spec.stderr_fd = write_end.get();

  RunOutcome out;
  // A thread of its own: the runner's loop waits on the sandbox, and a
  // chatty command must never block on a full pipe meanwhile.
  std::thread reader([&] {
    char buf[16384];
    while (true) {
      ssize_t n = read(read_end.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (ssize_t done = 0; output_fd >= 0 && done < n;) {
        ssize_t w = write(output_fd, buf + done, static_cast<size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) break;  // the user's terminal went away: keep the build going
        done += w;
      }
      out.tail.append(buf, static_cast<size_t>(n));
      if (out.tail.size() > 2 * kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
    }
  });
  try {
    out.result = sandbox::run(spec);
  } catch (...) {
    write_end.reset();
    reader.join();
    throw;
  }
  // Every writer is gone with the sandbox once ours is closed.
  write_end.reset();
  reader.join();
  if (out.tail.size() > kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
  return out;
}

}  // namespace coracle::image
