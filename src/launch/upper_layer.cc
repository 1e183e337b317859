#include "launch/upper_layer.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "image/tar_writer.h"
#include "image/tree_tar.h"

namespace coracle::launch {

using image::Layer;
using image::LayerBlob;
using image::TreeTarOptions;
using image::write_tree;
namespace {

// The helper's side: runs in a fork of the builder (single-threaded, as
// setns into a user namespace requires), never returns.
[[noreturn]] void helper_main(const sandbox::UpperDir& upper, int data_fd, int err_fd) {
  try {
    // Joining the namespace gives this process every capability inside it
    // (the builder owns it, or is host root); file access checks then
    // treat the sandbox's files as they do inside.
    if (setns(upper.userns.get(), CLONE_NEWUSER) < 0)
      throw_errno("cannot join the sandbox's user namespace");
    image::TarWriter tar(
        [&](const void* p, size_t n) { write_all(data_fd, p, n, "the layer pipe"); });
    TreeTarOptions options;
    options.overlay_whiteouts = true;
    write_tree(upper.dir.get(), tar, options);
    tar.finish();
    _exit(0);
  } catch (const std::exception& e) {
    const char* msg = e.what();
    (void)!::write(err_fd, msg, strlen(msg));
    _exit(1);
  }
}

}  // namespace

uint64_t stream_upper_tar(const sandbox::UpperDir& upper,
                          const std::function<void(const void*, size_t)>& sink,
                          const std::string& what) {
  int data[2], err[2];
  if (pipe2(data, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd data_r(data[0]), data_w(data[1]);
  if (pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  // Bigger pipe buffer: fewer wake-ups between the walker and the gzip.
  fcntl(data_w.get(), F_SETPIPE_SZ, 1 << 20);

  pid_t pid = fork();
  if (pid < 0) throw_errno("cannot start the layer helper");
  if (pid == 0) helper_main(upper, data_w.get(), err_w.get());
  data_w.reset();
  err_w.reset();

  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  std::string failure;
  try {
    while (true) {
      ssize_t n = read(data_r.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("cannot read the layer");
      if (n == 0) break;
      sink(buf.data(), static_cast<size_t>(n));
      total += static_cast<uint64_t>(n);
    }
  } catch (const Error& e) {
    failure = e.what();
  }
  data_r.reset();  // a helper still writing gets EPIPE
  char msg[1024];
  ssize_t n = read(err_r.get(), msg, sizeof msg - 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n > 0) failure = what + ": " + std::string(msg, static_cast<size_t>(n));
  if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    failure = what + ": the layer helper failed";
  if (!failure.empty()) throw Error(failure);
  return total;
}

std::optional<Layer> layer_from_upper(const image::Store& store, const sandbox::UpperDir& upper,
                                      const std::string& what) {
  LayerBlob blob(store);
  uint64_t total = stream_upper_tar(
      upper, [&](const void* p, size_t n) { blob.write(p, n); }, what);
  // Two zero blocks and nothing else: the command changed nothing.
  if (total <= 1024) return std::nullopt;
  return blob.finish(what);
}

}  // namespace coracle::launch
