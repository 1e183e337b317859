// Live output of a step: copied to the terminal as it comes, and cut into
// lines for the JSON event stream.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "chain/steps.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle::chain {
namespace {

void write_out(int fd, const char* data, size_t size) {
  while (fd >= 0 && size > 0) {
    ssize_t w = write(fd, data, size);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return;  // the terminal went away: the step goes on
    data += w;
    size -= static_cast<size_t>(w);
  }
}

}  // namespace

StreamedRun run_with_output(sandbox::Spec spec, const sandbox::Hooks& hooks,
                            const ChainOptions& options, bool keep, size_t max_keep) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  spec.stdin_fd = null_in.get();
  spec.stdout_fd = out_w.get();
  spec.stderr_fd = err_w.get();

  StreamedRun run;
  // Its own thread: the runner waits on the sandbox meanwhile, and a
  // chatty step must never block on a full pipe.
  std::thread reader([&] {
    std::string partial[2];
    struct pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    int open_count = 2;
    char buf[16384];
    while (open_count > 0) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !fds[i].revents) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          fds[i].fd = -1;
          --open_count;
          if (!partial[i].empty() && options.on_event)
            options.on_event(
                {{"event", "log"}, {"stream", i ? "stderr" : "stdout"}, {"line", partial[i]}});
          continue;
        }
        write_out(options.output_fd, buf, static_cast<size_t>(n));
        if (keep) {
          run.kept.append(buf, static_cast<size_t>(n));
          if (run.kept.size() > 2 * max_keep) run.kept.erase(0, run.kept.size() - max_keep);
        }
        if (!options.on_event) continue;
        partial[i].append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = partial[i].find('\n')) != std::string::npos) {
          options.on_event({{"event", "log"},
                            {"stream", i ? "stderr" : "stdout"},
                            {"line", partial[i].substr(0, nl)}});
          partial[i].erase(0, nl + 1);
        }
      }
    }
  });
  try {
    run.result = sandbox::run(spec, hooks);
  } catch (...) {
    out_w.reset();
    err_w.reset();
    reader.join();
    throw;
  }
  out_w.reset();
  err_w.reset();
  reader.join();
  if (run.kept.size() > max_keep) run.kept.erase(0, run.kept.size() - max_keep);
  return run;
}

}  // namespace coracle::chain
