#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "common/error.h"
#include "common/io.h"
#include "common/quiet_thread.h"
#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

Result run_streamed(Spec spec, const Hooks& hooks, const OutputSink& sink, bool merge) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(p[0]), out_w(p[1]), err_r, err_w;
  if (!merge) {
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
    err_r.reset(p[0]);
    err_w.reset(p[1]);
  }
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) throw_errno("cannot open /dev/null");
  spec.stdin_fd = null.get();
  spec.stdout_fd = out_w.get();
  spec.stderr_fd = merge ? out_w.get() : err_w.get();

  // Drained while the sandbox runs, on a thread of its own, so a chatty
  // command never blocks on a full pipe; ends when every write end (ours
  // and the sandbox's) is closed.
  std::thread reader = start_quiet_thread([&] {
    drain_pipes(out_r.get(), merge ? -1 : err_r.get(),
                [&](int which, std::string_view data) { sink(which + 1, data); });
  });
  Result result;
  try {
    result = run(spec, hooks);
  } catch (...) {
    out_w.reset();
    err_w.reset();
    reader.join();
    throw;
  }
  out_w.reset();
  err_w.reset();
  reader.join();
  return result;
}

Captured run_captured(Spec spec, const Hooks& hooks) {
  Captured captured;
  captured.result = run_streamed(std::move(spec), hooks, [&](int stream, std::string_view data) {
    (stream == 1 ? captured.out : captured.err).append(data);
  });
  return captured;
}

}  // namespace coracle::sandbox
