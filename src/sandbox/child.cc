#include "sandbox/child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sandbox/exec_fds.h"
#include "sandbox/net.h"
#include "sandbox/net_counters.h"
#include "sandbox/netns_maker.h"
#include "sandbox/raw_ids.h"
#include "sandbox/socket_factory.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {
namespace {

[[noreturn]] void fail(const ChildContext& ctx, int err, const char* what) {
  fail_child(ctx.sync_fd, err < 0 ? -err : err, what);
}

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
  if (strchr(file, '/')) {
    execve(file, ctx.argv.data(), ctx.envp.data());
    return errno;
  }
  int err = ENOENT;
  char path[4096];
  for (const auto& dir : ctx.search_path) {
    if (snprintf(path, sizeof path, "%s/%s", dir.c_str(), file) >= static_cast<int>(sizeof path))
      continue;
    execve(path, ctx.argv.data(), ctx.envp.data());
    // EACCES from one directory is remembered; a later ENOENT must not hide it.
    if (errno == EACCES || errno == ENOEXEC || errno == EISDIR)
      err = errno;
    else if (errno != ENOENT && errno != ENOTDIR && err == ENOENT)
      err = errno;
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

[[noreturn]] void command_main(const ChildContext& ctx, int tty_slave);
void load_filters(const ChildContext& ctx);

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
    if (int rc = install_stdio(stdio); rc < 0) fail(ctx, rc, "set up the terminal");
    if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0) fail(ctx, errno, "take the terminal");
  } else if (int rc = install_stdio(ctx.stdio); rc < 0) {
    fail(ctx, rc, "set up stdin/stdout/stderr");
  }
  // Bounding set first, while we still hold CAP_SETPCAP: whatever is dropped
  // here cannot come back through any later exec, setuid binary or file cap.
  if (int rc = ctx.caps->drop_bounding(); rc < 0)
    fail(ctx, rc, "drop capabilities from the bounding set");
  if (ctx.groups && !ctx.groups->empty()) {
    if (raw_set_groups(ctx.groups->size(), ctx.groups->data()) < 0)
      fail(ctx, errno, "set supplementary groups");
  } else if (ctx.setgroups_allowed && raw_clear_groups() < 0) {
    fail(ctx, errno, "clear supplementary groups");
  }
  // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, which
  // only the setup still has: the filters go now, and bind what follows.
  if (!ctx.no_new_privs) load_filters(ctx);
  if (raw_setresgid(ctx.gid) < 0) fail(ctx, errno, "set the group id");
  // For a non-root uid this clears every capability (unless the plan keeps
  // the permitted set: an OCI config's explicit sets).
  if (int rc = ctx.caps->keep_across_setuid(); rc < 0) fail(ctx, rc, "keep capabilities");
  if (raw_setresuid(ctx.uid) < 0) fail(ctx, errno, "set the user id");
  if (int rc = ctx.caps->apply(); rc < 0) fail(ctx, rc, "set capabilities");
  // Every fd but 0-2 and the preserved ones goes at exec (the sync socket
  // stays open until then, to report an exec failure).
  keep_only_preserved_fds(ctx.preserved_fds);
  if (ctx.no_new_privs) {
    // no_new_privs: setuid bits and file capabilities in the image grant
    // nothing, and it lets an unprivileged process install the filters.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(ctx, errno, "set no_new_privs");
    load_filters(ctx);
  }
  int err = exec_command(ctx);
  char what[240];
  snprintf(what, sizeof what, "%s", ctx.argv[0]);
  fail_child(ctx.sync_fd, err, what, err == ENOENT || err == ENOTDIR ? 127 : 126);
}

// The seccomp filters, in the order they must stack.
void load_filters(const ChildContext& ctx) {
  // The guard and the watch filter go first: the profile might not allow
  // seccomp() itself. The guard holds whatever profile the user chose,
  // "unconfined" included.
  if (ctx.guard) {
    if (int rc = load_seccomp(*ctx.guard); rc < 0)
      fail(ctx, rc, "load the host-write guard (seccomp)");
  }
  // The watch filter's listener fd leaves for the runner, which must answer every
  // notification, and is closed here so nothing in the sandbox can.
  if (ctx.notify) {
    int listener = load_seccomp_listener(*ctx.notify);
    if (listener < 0)
      fail(ctx, listener,
           listener == -EBUSY ? "watch sockets: an outer seccomp filter already has a listener"
                              : "load the socket-watch seccomp filter");
    Msg handoff{};
    handoff.type = MsgType::Listener;
    int rc = send_msg(ctx.sync_fd, handoff, &listener, 1);
    close(listener);
    if (rc < 0) fail(ctx, rc, "pass the seccomp listener to the runner");
  }
  // Last: from here on only what the profile allows works.
  if (int rc = load_seccomp(*ctx.seccomp); rc < 0) fail(ctx, rc, "load the seccomp filter");
}

[[noreturn]] void init_loop(const ChildContext& ctx, pid_t command) {
  // init keeps only CAP_KILL, to pass signals to a command of any uid (it
  // is non-dumpable already: the command cannot ptrace it meanwhile). If
  // this fails, init would stay a way in: the sandbox ends.
  if (cap_set_proc(ctx.init_caps) < 0) {
    int err = errno;
    kill(command, SIGKILL);
    fail(ctx, err, "drop init's capabilities");
  }
  for (int fd = 0; fd < 3; ++fd) close(fd);

  Msg started{};
  started.type = MsgType::Started;
  send_msg(ctx.sync_fd, started);

  // Signals were blocked before the fork; they are read from a signalfd
  // so that one poll also serves the socket factory.
  sigset_t wait_set = ctx.forwarded;
  sigaddset(&wait_set, SIGCHLD);
  int signals = signalfd(-1, &wait_set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) {
    kill(command, SIGKILL);
    fail(ctx, errno, "create init's signalfd");
  }
  int factory = ctx.factory_fd;
  while (true) {
    struct pollfd fds[2] = {{signals, POLLIN, 0}, {factory, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    // A failed channel means the runner is gone; PDEATHSIG ends us soon.
    if (fds[1].revents && serve_socket_request(factory) < 0) factory = -1;
    if (!fds[0].revents) continue;
    bool child_changed = false;
    struct signalfd_siginfo si;
    while (read(signals, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD)
        child_changed = true;
      else
        kill(command, static_cast<int>(si.ssi_signo));
    }
    if (!child_changed) continue;
    int status;
    struct rusage usage;
    pid_t pid;
    while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
      if (pid != command) continue;  // an orphan reaped, nothing more
      Msg done{};
      done.type = MsgType::Exited;
      done.maxrss_kib = static_cast<uint64_t>(usage.ru_maxrss);
      if (WIFSIGNALED(status)) {
        done.signo = WTERMSIG(status);
        done.exit_code = 128 + done.signo;
      } else {
        done.exit_code = WEXITSTATUS(status);
      }
      // Only for a failure: a command that ended well needs no hint.
      if (ctx.count_unroutable && done.exit_code != 0) done.unroutable = read_out_no_routes();
      send_msg(ctx.sync_fd, done);
      // Leaving PID 1 kills whatever else still runs in the namespace. A
      // detached init's status is the container's (its parent is then an
      // engine's monitor, conmon or a shim, which reads it).
      _exit(ctx.start_fifo_fd >= 0 ? done.exit_code : 0);
    }
  }
}

// Runs each hook in order; the first that fails ends the sandbox's setup.
void run_hooks_or_fail(const ChildContext& ctx, const std::vector<PreparedHook>& hooks,
                       const char* kind, size_t state_len) {
  for (const auto& h : hooks) {
    int rc = run_prepared_hook(h, ctx.hook_state, state_len);
    if (rc == 0) continue;
    char what[240];
    snprintf(what, sizeof what, "%s hook %s %s", kind, h.path,
             rc == -ETIMEDOUT   ? "timed out"
             : rc == -ECANCELED ? "failed"
                                : "could not run");
    fail(ctx, rc == -ECANCELED ? EIO : -rc, what);
  }
}

}  // namespace

// The runner's command line and environment, in init's copy of its memory,
// become "coracle-init" and nothing: the command can read /proc/1/cmdline.
void scrub_process_strings(const ChildContext& ctx) {
  static const char kName[] = "coracle-init";
  if (ctx.arg_end > ctx.arg_start + sizeof kName) {
    char* args = reinterpret_cast<char*>(ctx.arg_start);
    memset(args, 0, ctx.arg_end - ctx.arg_start);
    memcpy(args, kName, sizeof kName);
    // A non-NUL last byte tells the kernel the area was rewritten (as by
    // setproctitle): it then shows the first string only, not the NULs.
    args[ctx.arg_end - ctx.arg_start - 1] = '.';
  }
  if (ctx.env_end > ctx.env_start)
    memset(reinterpret_cast<char*>(ctx.env_start), 0, ctx.env_end - ctx.env_start);
}

void child_main(const ChildContext& ctx) {
  // The sandbox dies with its runner, even on SIGKILL (unless it is to
  // outlive it: an OCI runtime's create returns with the container made).
  bool detached = ctx.start_fifo_fd >= 0;
  if (!detached) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  scrub_process_strings(ctx);
  // Now, while still the runner's uid: after a change of ids the kernel
  // makes the process non-dumpable and its /proc files root's. The command
  // inherits it.
  if (ctx.oom_score_adj[0]) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, ctx.oom_score_adj, strlen(ctx.oom_score_adj)) < 0)
      fail(ctx, errno, "set oom_score_adj");
    close(fd);
  }

  // A network namespace of the sandbox's own is made beside this process
  // (netns_maker.h) and joined during the mounts; pasta's, made by clone3,
  // gets its loopback up here.
  if (ctx.loopback_up) {
    if (int rc = send_netlink_request(*ctx.loopback_up); rc < 0) fail(ctx, rc, "bring up loopback");
  }

  Msg go{};
  int received[kMaxMsgFds], trees[kMaxMsgFds];
  // End of stream here means the runner died or gave up: nothing to report to.
  if (recv_msg(ctx.sync_fd, go, received, kMaxMsgFds) < 0 || go.type != MsgType::Go ||
      go.ntrees > kMaxMsgFds)
    _exit(125);
  // The trees back in their sources' places; -1 where a source has none.
  for (unsigned i = 0, next = 0; i < go.ntrees; ++i)
    trees[i] = go.has_tree[i] && next < go.nfds ? received[next++] : -1;

  // Opened with the caller's own access rights, before the uid changes.
  int sources[kMaxMsgFds];
  const char* what = "open the mount sources";
  if (int rc = open_sources(*ctx.mounts, trees, go.ntrees, sources, &what); rc < 0)
    fail(ctx, rc, what);

  if (ctx.unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
    fail(ctx, errno, "unshare the cgroup namespace");
  // Become container root for the setup. As a root runner this also leaves
  // host uid 0 behind: from here we are the unprivileged mapped uid.
  if (raw_setresgid(0) < 0) fail(ctx, errno, "become root in the user namespace (gid)");
  if (raw_setresuid(0) < 0) fail(ctx, errno, "become root in the user namespace (uid)");
  // Changing credentials clears the parent-death signal (commit_creds):
  // arm it again, then make sure the runner did not die in between (its end
  // of the socket would be closed).
  if (!detached) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    char peek;
    if (recv(ctx.sync_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0) _exit(125);
  }
  if (ctx.setgroups_allowed && raw_clear_groups() < 0)
    fail(ctx, errno, "clear supplementary groups");
  if (ctx.hostname && sethostname(ctx.hostname, strlen(ctx.hostname)) < 0)
    fail(ctx, errno, "set the hostname");

  what = "set up the file system";
  int upper = -1;
  // The plan's modes are meant as written (a 0644 /etc/resolv.conf must
  // be readable by every user inside), whatever the caller's umask; the
  // command then starts with Docker's 022.
  umask(0);
  if (int rc = apply_mount_plan(*ctx.mounts, real_mount_calls(), trees, go.ntrees, sources,
                                ctx.sync_fd, &upper, &what);
      rc < 0)
    fail(ctx, rc, what);
  umask(022);
  if (ctx.network_beside) {
    if (int rc = await_network_up(ctx.sync_fd, &what); rc < 0) fail(ctx, rc, what);
  }
  if (upper >= 0) {
    // The runner reads the command's changes through this fd once the
    // sandbox has gone; nothing inside keeps a way to it.
    Msg handoff{};
    handoff.type = MsgType::Upper;
    int rc = send_msg(ctx.sync_fd, handoff, &upper, 1);
    close(upper);
    if (rc < 0) fail(ctx, rc, "pass the upper dir to the runner");
  }
  for (unsigned i = 0; i < go.nfds; ++i) close(received[i]);
  for (unsigned i = 0; i < source_count(*ctx.mounts); ++i)
    if (sources[i] >= 0) close(sources[i]);

  // The OCI hooks' state comes right after Go; createContainer hooks run
  // now, in the finished root.
  size_t state_len = 0;
  if (ctx.hook_state) {
    ssize_t n = recv(ctx.sync_fd, ctx.hook_state, ctx.hook_state_cap, 0);
    if (n <= 0) _exit(125);
    state_len = static_cast<size_t>(n);
  }
  if (ctx.create_hooks) run_hooks_or_fail(ctx, *ctx.create_hooks, "createContainer", state_len);

  // The command's rlimits, set on init (the command inherits them) so that
  // one this host refuses fails the setup, before `create` returns, as
  // with runc, rather than a command already started.
  for (const auto& r : ctx.rlimits) {
    struct rlimit lim {
      r.soft, r.hard
    };
    if (setrlimit(r.resource, &lim) < 0) fail(ctx, errno, "set the command's rlimits");
  }

  // A session of its own: the command gets no controlling terminal, so it
  // cannot push input into the host's shell with TIOCSTI (CVE-2017-5226).
  setsid();

  // Blocked before the fork so no SIGCHLD or forwarded signal can arrive
  // before init waits for it; the command unblocks everything.
  sigset_t wait_set = ctx.forwarded;
  sigaddset(&wait_set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &wait_set, nullptr);

  // Shares init's memory and suspends init until the exec: no page tables
  // copied, no copy-on-write faults. Safe because init does nothing
  // meanwhile, and the command writes only its own stack.
  CommandStart start{&ctx, -1};
  if (ctx.tty) {
    start.tty_slave = open_sandbox_pty(ctx);
    if (start.tty_slave < 0) fail(ctx, start.tty_slave, "open a terminal in the sandbox's devpts");
  }
  if (detached) {
    // Made (its terminal's master already handed over): the runner may go. The command starts when
    // `start` opens the FIFO for reading; this open blocks until then. (It is reopened through
    // /proc: the host path is outside the new root.)
    Msg ready{};
    ready.type = MsgType::Ready;
    send_msg(ctx.sync_fd, ready);
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ctx.start_fifo_fd);
    int fifo = open(path, O_WRONLY | O_CLOEXEC);
    if (fifo < 0) _exit(125);
    (void)!write(fifo, "0", 1);
    close(fifo);
    close(ctx.start_fifo_fd);
  }
  if (ctx.start_hooks) run_hooks_or_fail(ctx, *ctx.start_hooks, "startContainer", state_len);

  // Non-dumpable before the command exists: a process of the sandbox
  // running as the same uid can never ptrace init or read its memory, not
  // even while init still holds every capability (it drops them once the
  // command has exec'd). Dumpability belongs to the memory, which the
  // command leaves at its exec, so the command itself is not affected.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail(ctx, errno, "make init non-dumpable");
  pid_t command = clone(command_entry, ctx.command_stack + ctx.command_stack_size,
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (start.tty_slave >= 0) close(start.tty_slave);
  if (command < 0) fail(ctx, errno, "start the command");
  init_loop(ctx, command);
}

}  // namespace coracle::sandbox
