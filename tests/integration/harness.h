// Drives the real coracle binary for the integration tests.
#pragma once
#include <gtest/gtest.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace coracle::test {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

struct RunOptions {
  std::optional<uid_t> uid;  // run as this user (gid = uid's primary group)
  std::optional<gid_t> gid;
  std::vector<std::string> env;  // extra K=V
  std::string home;              // HOME for the run
};

// Runs `coracle ARGS...` to completion. The store root is a temporary
// directory of the test process (CORACLE_ROOT) unless args say otherwise.
RunResult coracle(const std::vector<std::string>& args, const RunOptions& options = {});

// Starts coracle in the background; its stdout is readable from *out_fd.
pid_t spawn_coracle(const std::vector<std::string>& args, int* out_fd,
                    const RunOptions& options = {});
// The same with a pipe to its stdin as well (*in_fd: the write end).
pid_t spawn_coracle(const std::vector<std::string>& args, int* in_fd, int* out_fd,
                    const RunOptions& options = {});
// Waits for a spawned coracle; returns its exit status (128+N if signaled).
int wait_coracle(pid_t pid);
// Reads from fd until text appears or the wait bound passes; returns all read.
std::string read_until(int fd, const std::string& text, int max_wait_ms = 20000);
// Everything fd gives until end of file (or an error), appended to out.
void read_to_end(int fd, std::string& out);

const char* probe();       // path of the static probe program
const char* port_probe();  // the static app of the port tests (port_probe.cc)
std::string store_root();

// A fresh directory under /tmp, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Entries of a directory other than . and .. (-1 if it cannot be read).
int count_entries(const std::string& dir);
// The same once it has settled: waits (up to 5 s) for dir to empty, for a
// store's tmp/ just after a run (the store's reaper removes the run's
// writable layer after it, off the run's path); spare-* entries, emptied
// layer dirs kept for the next run, do not count.
int count_entries_settled(const std::string& dir);
// The lines of text that start with prefix.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix);
// What a --json stream's log events of stream ("stdout", "stderr",
// "output") carried, a line each.
std::string log_output(const std::string& events, const std::string& stream = "stdout");
std::string status_field(const std::string& proc_status, const std::string& field);

// How many times what occurs in text.
int count_occurrences(const std::string& text, const std::string& what);

// A TCP socket of the test itself listening on 127.0.0.1 (a free port):
// a service only the host should reach. Closed with the object.
class LoopbackListener {
 public:
  LoopbackListener();
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs a shell command; a failure is a test failure. Returns its output.
std::string run_sh(const std::string& cmd);
// Writes an OCI image layout at dir (tests/fixtures/make_layout.py spec).
void make_layout(const std::string& dir, const nlohmann::json& spec);
// Layer entries for busybox with a few applets, /etc/passwd and /etc/group.
nlohmann::json busybox_layer();

// A test with a store and a work folder of its own: cor(ARGS) is
// `coracle --root STORE ARGS`, with the fixture's default_options() (a
// test with a home or an environment of its own overrides them).
class StoreTest : public ::testing::Test {
 protected:
  TempDir work, store;
  virtual RunOptions default_options() { return {}; }
  RunResult cor(std::vector<std::string> args, const RunOptions& options) {
    args.insert(args.begin(), {"--root", store.path()});
    return coracle(args, options);
  }
  RunResult cor(std::vector<std::string> args) { return cor(std::move(args), default_options()); }
};

// A real Debian 12 (debootstrap's minbase, from the package mirror this
// machine's apt uses), made once per build tree under test-cache/ by
// tests/fixtures/make_debian_rootfs.sh: a rootfs folder and an OCI archive
// of it (tagged coracle-test/debian:12). skip says why there is none (apt
// names no Debian mirror); a failed making is a test failure.
struct DebianFixture {
  std::string rootfs, archive, mirror, skip;
};
const DebianFixture& debian_fixture();

}  // namespace coracle::test
