#include "sandbox/join.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/exec_fds.h"
#include "sandbox/raw_ids.h"
#include "sandbox/run_plan.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"
#include "sandbox/terminal.h"

namespace coracle::sandbox {
namespace {

// What the joining process reports before its exec: the step and errno.
struct Report {
  int err = 0;
  char what[64] = {};
};

[[noreturn]] void report_and_exit(int fd, int err, const char* what) {
  Report r;
  r.err = err;
  snprintf(r.what, sizeof r.what, "%s", what);
  (void)!write(fd, &r, sizeof r);
  _exit(err == ENOENT ? 127 : 126);
}

// In the container's mount namespace: a pty of its devpts, the master to
// the console socket, the slave the process's stdio and controlling
// terminal. 0 or -errno.
int take_container_pty(int console_socket) {
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -errno;
  int unlock = 0;
  int slave = -1;
  if (ioctl(master, TIOCSPTLCK, &unlock) == 0)
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  int rc = slave < 0 ? -errno : send_console_master(console_socket, master);
  close(master);
  close(console_socket);
  if (rc == 0 && (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)) rc = -errno;
  for (int fd = 0; rc == 0 && fd < 3; ++fd)
    if (dup2(slave, fd) < 0) rc = -errno;
  if (slave > 2) close(slave);
  return rc;
}

// The host-write guard first (the profile might not allow seccomp()
// itself), then the profile. 0 or -errno.
int load_filters(const JoinSpec& j, const SeccompProgram& profile) {
  if (j.host_writes) {
    if (int rc = load_seccomp(host_write_guard_program()); rc < 0) return rc;
  }
  return load_seccomp(profile);
}

}  // namespace

int join_sandbox(const JoinSpec& j, pid_t* pid_out) {
  if (j.argv.empty()) throw Error("no command to run");
  if (geteuid() != 0) throw Error("joining a running sandbox needs root");
  // The user namespace first (it grants the rights for the others), the
  // mount namespace last (it changes the root the others are found in).
  static const char* const kKinds[] = {"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"};
  std::vector<UniqueFd> ns;
  for (const char* kind : kKinds) {
    std::string path = "/proc/" + std::to_string(j.init_pid) + "/ns/" + kind;
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("cannot open " + path + " (is the container running?)");
    // One the sandbox shares with us (no user namespace of its own, the
    // host's ipc) is not joined: setns into one's own user namespace fails.
    struct stat theirs {
    }, ours{};
    std::string own = std::string("/proc/self/ns/") + kind;
    if (fstat(fd.get(), &theirs) == 0 && stat(own.c_str(), &ours) == 0 &&
        theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
      fd.reset();
    ns.push_back(std::move(fd));
  }
  // The same choice as a run's command (run_plan.h).
  ProcessPrivileges privileges = plan_privileges(j.uid, j.capability_sets, j.cap_add, j.cap_drop,
                                                 j.seccomp_profile, j.host_writes);
  const CapPlan& caps = *privileges.caps;
  const SeccompProgram& seccomp = privileges.seccomp;
  std::vector<std::string> cgroup_procs = cgroup_procs_files(j.cgroup_name);
  std::vector<gid_t> groups(j.groups.begin(), j.groups.end());
  std::vector<char*> argv, envp;
  for (const auto& a : j.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : j.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::string path_var = kDefaultPath;
  for (const auto& e : j.env)
    if (e.rfind("PATH=", 0) == 0) path_var = e.substr(5);
  std::vector<std::string> search = split(path_var, ':');

  int report_pipe[2], pid_pipe[2];
  if (pipe2(report_pipe, O_CLOEXEC) < 0 || pipe2(pid_pipe, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd report_r(report_pipe[0]), report_w(report_pipe[1]);
  UniqueFd pid_r(pid_pipe[0]), pid_w(pid_pipe[1]);

  pid_t child = fork();
  if (child < 0) throw_errno("fork");
  if (child == 0) {
    // Still the caller's ids: after a change the kernel makes the process
    // non-dumpable and its /proc files root's. Inherited by the process.
    if (j.oom_score_adj) {
      char value[16];
      int n = snprintf(value, sizeof value, "%d", *j.oom_score_adj);
      int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, value, static_cast<size_t>(n)) < 0)
        report_and_exit(report_w.get(), errno, "set oom_score_adj");
      close(fd);
    }
    // Into its cgroup while still seeing the host's /sys/fs/cgroup.
    for (const auto& procs : cgroup_procs) {
      int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)!write(fd, "0", 1);
        close(fd);
      }
    }
    for (size_t i = 0; i < ns.size(); ++i)
      if (ns[i] && setns(ns[i].get(), 0) < 0) report_and_exit(report_w.get(), errno, kKinds[i]);
    // The pid namespace applies to children: the process to run is one.
    pid_t grandchild = fork();
    if (grandchild < 0) report_and_exit(report_w.get(), errno, "fork");
    if (grandchild == 0) {
      int w = report_w.get();
      if (j.console_socket >= 0) {
        if (int rc = take_container_pty(j.console_socket); rc < 0)
          report_and_exit(w, -rc, "open a terminal in the container's devpts");
      }
      for (const auto& r : j.rlimits) {
        struct rlimit lim = {r.soft, r.hard};
        if (setrlimit(r.resource, &lim) < 0) report_and_exit(w, errno, "setrlimit");
      }
      if (int rc = caps.drop_bounding(); rc < 0) report_and_exit(w, -rc, "drop capabilities");
      if (raw_set_groups(groups.size(), groups.data()) < 0) report_and_exit(w, errno, "setgroups");
      // Without no_new_privs the filter needs CAP_SYS_ADMIN: loaded while
      // it is still held (as the sandbox's own command does).
      if (!j.no_new_privs) {
        if (int rc = load_filters(j, seccomp); rc < 0)
          report_and_exit(w, -rc, "load the seccomp filter");
      }
      if (raw_setresgid(j.gid) < 0) report_and_exit(w, errno, "set the group id");
      if (int rc = caps.keep_across_setuid(); rc < 0) report_and_exit(w, -rc, "keep capabilities");
      if (raw_setresuid(j.uid) < 0) report_and_exit(w, errno, "set the user id");
      if (int rc = caps.apply(); rc < 0) report_and_exit(w, -rc, "set capabilities");
      if (chdir(j.cwd.c_str()) < 0) report_and_exit(w, errno, "change to the working directory");
      // The caller's fds (runc's rule): 0-2 and --preserve-fds, no other.
      keep_only_preserved_fds(j.preserved_fds);
      if (j.no_new_privs) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) report_and_exit(w, errno, "no_new_privs");
        if (int rc = load_filters(j, seccomp); rc < 0)
          report_and_exit(w, -rc, "load the seccomp filter");
      }
      int err = ENOENT;
      if (strchr(argv[0], '/')) {
        execve(argv[0], argv.data(), envp.data());
        err = errno;
      } else {
        char path[4096];
        for (const auto& dir : search) {
          snprintf(path, sizeof path, "%s/%s", dir.empty() ? "." : dir.c_str(), argv[0]);
          execve(path, argv.data(), envp.data());
          if (errno != ENOENT && errno != ENOTDIR) err = errno;
        }
      }
      report_and_exit(w, err, argv[0]);
    }
    (void)!write(pid_w.get(), &grandchild, sizeof grandchild);
    if (j.detach) _exit(0);
    int status = 0;
    while (waitpid(grandchild, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  report_w.reset();
  pid_w.reset();
  pid_t grandchild = 0;
  (void)!read(pid_r.get(), &grandchild, sizeof grandchild);
  Report r;
  ssize_t n = read(report_r.get(), &r, sizeof r);  // end of file: it exec'd
  int status = 0;
  if (j.detach || n == static_cast<ssize_t>(sizeof r)) {
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (n == static_cast<ssize_t>(sizeof r)) {
    if (r.err == ENOENT && strcmp(r.what, j.argv[0].c_str()) == 0)
      throw Error(j.argv[0] + ": command not found", kExitNotFound);
    throw Error(std::string("cannot start the process: ") + r.what + ": " + strerror(r.err),
                kExitNotExecutable);
  }
  if (j.detach) {
    if (pid_out) *pid_out = grandchild;
    return 0;
  }
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace coracle::sandbox
