// The sandbox's command: its terminal, its start from init (sharing
// init's memory until its exec), and what it becomes before the exec:
// stdio, capabilities, ids, no_new_privs, the seccomp filters.
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "sandbox/child_calls.h"
#include "sandbox/child_steps.h"
#include "sandbox/exec_fds.h"
#include "sandbox/raw_ids.h"

namespace coracle::sandbox {
namespace {

// Moves the caller's chosen stdio fds onto 0, 1, 2. They are first copied
// above 2 so that a swap (stdout_fd = 2, stderr_fd = 1) cannot clobber.
int install_stdio(const int stdio[3]) {
  int high[3];
  for (int i = 0; i < 3; ++i) {
    high[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
    if (high[i] < 0) return -errno;
  }
  for (int i = 0; i < 3; ++i) {
    if (dup2(high[i], i) < 0) return -errno;
    close(high[i]);
  }
  return 0;
}

// execvp without allocating, searching the command's own PATH (not the
// runner's). Returns the errno that best explains the failure.
int exec_command(const ChildContext& ctx) {
  const char* file = ctx.argv[0];
  if (strchr(file, '/')) return -ctx.calls->execve(file, ctx.argv.data(), ctx.envp.data());
  int err = ENOENT;
  char path[4096];
  for (const auto& dir : ctx.search_path) {
    if (snprintf(path, sizeof path, "%s/%s", dir.c_str(), file) >= static_cast<int>(sizeof path))
      continue;
    int failed = -ctx.calls->execve(path, ctx.argv.data(), ctx.envp.data());
    // EACCES from one directory is remembered; a later ENOENT must not hide it.
    if (failed == EACCES || failed == ENOEXEC || failed == EISDIR)
      err = failed;
    else if (failed != ENOENT && failed != ENOTDIR && err == ENOENT)
      err = failed;
  }
  return err;
}

// What the command starts from: the context, and with Spec::tty the slave
// of the sandbox's own pty (else -1). On init's stack: CLONE_VFORK keeps it
// there until the exec.
struct CommandStart {
  const ChildContext* ctx;
  int tty_slave;
};

// The seccomp filters, in the order they must stack.
void load_filters(const ChildContext& ctx) {
  // The guard and the watch filter go first: the profile might not allow
  // seccomp() itself. The guard holds whatever profile the user chose,
  // "unconfined" included.
  if (ctx.guard) {
    if (int rc = ctx.calls->load_seccomp(*ctx.guard); rc < 0)
      child_fail(ctx, rc, "load the host-write guard (seccomp)");
  }
  // The watch filter's listener fd leaves for the runner, which must answer every
  // notification, and is closed here so nothing in the sandbox can.
  if (ctx.notify) {
    int listener = load_seccomp_listener(*ctx.notify);
    if (listener < 0)
      child_fail(ctx, listener,
                 listener == -EBUSY
                     ? "watch sockets: an outer seccomp filter already has a listener"
                     : "load the socket-watch seccomp filter");
    Msg handoff{};
    handoff.type = MsgType::Listener;
    int rc = send_msg(ctx.sync_fd, handoff, &listener, 1);
    close(listener);
    if (rc < 0) child_fail(ctx, rc, "pass the seccomp listener to the runner");
  }
  // Last: from here on only what the profile allows works.
  if (int rc = ctx.calls->load_seccomp(*ctx.seccomp); rc < 0)
    child_fail(ctx, rc, "load the seccomp filter");
}

[[noreturn]] void command_main(const ChildContext& ctx, int tty_slave) {
  // Nothing the runner ignored or handled may carry over into the command.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (tty_slave >= 0) {
    // A session of its own with the pty as its controlling terminal: job
    // control, Ctrl-C and Ctrl-Z work inside as in a terminal.
    const int stdio[3] = {tty_slave, tty_slave, tty_slave};
    if (int rc = install_stdio(stdio); rc < 0) child_fail(ctx, rc, "set up the terminal");
    if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0) child_fail(ctx, errno, "take the terminal");
  } else if (int rc = install_stdio(ctx.stdio); rc < 0) {
    child_fail(ctx, rc, "set up stdin/stdout/stderr");
  }
  // Bounding set first, while we still hold CAP_SETPCAP: whatever is dropped
  // here cannot come back through any later exec, setuid binary or file cap.
  if (int rc = ctx.calls->drop_bounding(*ctx.caps); rc < 0)
    child_fail(ctx, rc, "drop capabilities from the bounding set");
  if (ctx.groups && !ctx.groups->empty()) {
    if (int rc = ctx.calls->set_groups(ctx.groups->size(), ctx.groups->data()); rc < 0)
      child_fail(ctx, rc, "set supplementary groups");
  } else if (ctx.setgroups_allowed) {
    if (int rc = ctx.calls->clear_groups(); rc < 0)
      child_fail(ctx, rc, "clear supplementary groups");
  }
  // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, which
  // only the setup still has: the filters go now, and bind what follows.
  if (!ctx.no_new_privs) load_filters(ctx);
  if (int rc = ctx.calls->setresgid(ctx.gid); rc < 0) child_fail(ctx, rc, "set the group id");
  // For a non-root uid this clears every capability (unless the plan keeps
  // the permitted set: an OCI config's explicit sets).
  if (int rc = ctx.calls->keep_across_setuid(*ctx.caps); rc < 0)
    child_fail(ctx, rc, "keep capabilities");
  if (int rc = ctx.calls->setresuid(ctx.uid); rc < 0) child_fail(ctx, rc, "set the user id");
  if (int rc = ctx.calls->apply_caps(*ctx.caps); rc < 0) child_fail(ctx, rc, "set capabilities");
  // Every fd but 0-2 and the preserved ones goes at exec (the sync socket
  // stays open until then, to report an exec failure).
  keep_only_preserved_fds(ctx.preserved_fds);
  if (ctx.no_new_privs) {
    // no_new_privs: setuid bits and file capabilities in the image grant
    // nothing, and it lets an unprivileged process install the filters.
    if (int rc = ctx.calls->set_no_new_privs(); rc < 0) child_fail(ctx, rc, "set no_new_privs");
    load_filters(ctx);
  }
  int err = exec_command(ctx);
  char what[240];
  snprintf(what, sizeof what, "%s", ctx.argv[0]);
  fail_child(ctx.sync_fd, err, what, err == ENOENT || err == ENOTDIR ? 127 : 126);
}

int command_entry(void* arg) {
  auto* start = static_cast<CommandStart*>(arg);
  command_main(*start->ctx, start->tty_slave);
}

// Spec::tty: a pty from the sandbox's own devpts (never the host's). The
// master goes to the runner, which relays it to the user's terminal; the
// slave becomes the command's stdio and controlling terminal. Returns the
// slave, or -errno.
int open_sandbox_pty(const ChildContext& ctx) {
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -errno;
  int unlock = 0;
  int slave = -1;
  if (ioctl(master, TIOCSPTLCK, &unlock) == 0)
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  int err = slave < 0 ? errno : 0;
  if (slave >= 0) {
    Msg handoff{};
    handoff.type = MsgType::Pty;
    err = -send_msg(ctx.sync_fd, handoff, &master, 1);
  }
  close(master);
  if (err) {
    if (slave >= 0) close(slave);
    return -err;
  }
  return slave;
}

}  // namespace

int open_command_terminal(const ChildContext& ctx) {
  if (!ctx.tty) return -1;
  int slave = open_sandbox_pty(ctx);
  if (slave < 0) child_fail(ctx, slave, "open a terminal in the sandbox's devpts");
  return slave;
}

pid_t start_command(const ChildContext& ctx, int tty_slave) {
  // Non-dumpable before the command exists: a process of the sandbox
  // running as the same uid can never ptrace init or read its memory, not
  // even while init still holds every capability (it drops them once the
  // command has exec'd). Dumpability belongs to the memory, which the
  // command leaves at its exec, so the command itself is not affected.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(ctx, errno, "make init non-dumpable");
  // Shares init's memory and suspends init until the exec: no page tables
  // copied, no copy-on-write faults. Safe because init does nothing
  // meanwhile, and the command writes only its own stack.
  CommandStart start{&ctx, tty_slave};
  pid_t command = clone(command_entry, ctx.command_stack + ctx.command_stack_size,
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (tty_slave >= 0) close(tty_slave);
  if (command < 0) child_fail(ctx, errno, "start the command");
  return command;
}

}  // namespace coracle::sandbox
