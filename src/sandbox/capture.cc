#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "common/error.h"
#include "common/io.h"
#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

Captured run_captured(Spec spec, const Hooks& hooks) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  spec.stdin_fd = null.get();
  spec.stdout_fd = out_w.get();
  spec.stderr_fd = err_w.get();

  Captured captured;
  // Drained while the sandbox runs, so a chatty command never blocks on a
  // full pipe; ends when every write end (ours and the sandbox's) is closed.
  std::thread reader([&] { drain_two(out_r.get(), err_r.get(), captured.out, captured.err); });
  try {
    captured.result = run(spec, hooks);
  } catch (...) {
    out_w.reset();
    err_w.reset();
    reader.join();
    throw;
  }
  out_w.reset();
  err_w.reset();
  reader.join();
  return captured;
}

}  // namespace coracle::sandbox
