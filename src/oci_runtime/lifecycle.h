// A container's life under the runtime: create (set up, init waiting on
// ROOT/ID/exec.fifo as runc's, this call returning), start (init lets the
// process run), run (both; in the foreground by default), kill, delete
// (with its cgroup and the poststop hooks).
#pragma once
#include <string>
#include <vector>

#include "oci_runtime/state.h"

namespace coracle::oci_runtime {

struct CreateOptions {
  std::string bundle = ".", pid_file, console_socket;
  bool detach = false, keep = false, no_pivot = false, no_new_keyring = false;
  int preserve_fds = 0;
};

void create_container(const StateStore& store, const std::string& id, const CreateOptions& f);
void start_container(const StateStore& store, const std::string& id);
// Its exit status in the foreground; 0 once started with detach.
int run_container(const StateStore& store, const std::string& id, const CreateOptions& f);
void kill_container(const StateStore& store, const std::string& id, int sig);
struct ExecOptions {
  std::string process_file;       // --process: a process.json
  std::vector<std::string> args;  // else: the command line
  std::string cwd, pid_file;
  std::string console_socket;    // with a terminal: where its master goes
  std::vector<std::string> env;  // -e K=V, over the config's
  bool detach = false, tty = false;
  int preserve_fds = 0;  // fds 3 .. 3+N-1 of the call pass to the process
};
// Another process in the running container; its exit status (0 once
// started with detach).
int exec_in_container(const StateStore& store, const std::string& id, const ExecOptions& o);

// A running one only with force (killed first).
void delete_container(const StateStore& store, const std::string& id, bool force);

// pause: freezes a running container's processes (its cgroup's freezer);
// resume (pause = false) thaws a paused one.
void pause_container(const StateStore& store, const std::string& id, bool pause);
// The host pids of a container's processes (its cgroup's).
std::vector<pid_t> container_pids(const StateStore& store, const std::string& id);
// ps ARGS run on the host, its header and the lines of those pids (runc's
// `ps`: the PID column found by name).
std::string ps_table(const std::vector<pid_t>& pids, const std::vector<std::string>& args);

}  // namespace coracle::oci_runtime
