// The sandbox's setup before its command: tied to the runner, its strings
// scrubbed, Go awaited, container root, the new root built, rlimits, a
// session of its own. Each step fails through child_fail.
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "sandbox/child_calls.h"
#include "sandbox/child_steps.h"
#include "sandbox/net.h"
#include "sandbox/netns_maker.h"
#include "sandbox/raw_ids.h"

namespace coracle::sandbox {

void child_fail(const ChildContext& ctx, int err, const char* what) {
  fail_child(ctx.sync_fd, err < 0 ? -err : err, what);
}

void tie_to_runner(const ChildContext& ctx) {
  if (ctx.start_fifo_fd >= 0) return;  // made to outlive it
  if (int rc = ctx.calls->set_parent_death_signal(SIGKILL); rc < 0)
    child_fail(ctx, rc, "tie the sandbox to its runner (PR_SET_PDEATHSIG)");
  // The runner may have died before the signal was armed: its end of the
  // socket is then closed.
  if (ctx.calls->peek_runner(ctx.sync_fd) == 0) _exit(125);
}

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

void set_oom_score(const ChildContext& ctx) {
  // Now, while still the runner's uid: after a change of ids the kernel
  // makes the process non-dumpable and its /proc files root's. The command
  // inherits it.
  if (!ctx.oom_score_adj[0]) return;
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, ctx.oom_score_adj, strlen(ctx.oom_score_adj)) < 0)
    child_fail(ctx, errno, "set oom_score_adj");
  close(fd);
}

void bring_up_loopback(const ChildContext& ctx) {
  // A network namespace of the sandbox's own is made beside this process
  // (netns_maker.h) and joined during the mounts; pasta's, made by clone3,
  // gets its loopback up here.
  if (!ctx.loopback_up) return;
  if (int rc = send_netlink_request(*ctx.loopback_up); rc < 0)
    child_fail(ctx, rc, "bring up loopback");
}

void await_go(const ChildContext& ctx, GoReceived& in) {
  // End of stream here means the runner died or gave up: nothing to report to.
  if (recv_msg(ctx.sync_fd, in.go, in.received, kMaxMsgFds) < 0 || in.go.type != MsgType::Go ||
      in.go.ntrees > kMaxMsgFds)
    _exit(125);
  // The trees back in their sources' places; -1 where a source has none.
  for (unsigned i = 0, next = 0; i < in.go.ntrees; ++i)
    in.trees[i] = in.go.has_tree[i] && next < in.go.nfds ? in.received[next++] : -1;
  // Opened with the caller's own access rights, before the uid changes.
  const char* what = "open the mount sources";
  if (int rc = open_sources(*ctx.mounts, in.trees, in.go.ntrees, in.sources, &what); rc < 0)
    child_fail(ctx, rc, what);
}

void become_container_root(const ChildContext& ctx) {
  if (ctx.unshare_cgroupns) {
    if (int rc = ctx.calls->unshare(CLONE_NEWCGROUP); rc < 0)
      child_fail(ctx, rc, "unshare the cgroup namespace");
  }
  // Become container root for the setup. As a root runner this also leaves
  // host uid 0 behind: from here we are the unprivileged mapped uid.
  if (int rc = ctx.calls->setresgid(0); rc < 0)
    child_fail(ctx, rc, "become root in the user namespace (gid)");
  if (int rc = ctx.calls->setresuid(0); rc < 0)
    child_fail(ctx, rc, "become root in the user namespace (uid)");
  // Changing credentials clears the parent-death signal (commit_creds):
  // armed again, and the runner checked for again.
  tie_to_runner(ctx);
  if (ctx.setgroups_allowed) {
    if (int rc = ctx.calls->clear_groups(); rc < 0)
      child_fail(ctx, rc, "clear supplementary groups");
  }
  if (ctx.hostname) {
    if (int rc = ctx.calls->sethostname(ctx.hostname, strlen(ctx.hostname)); rc < 0)
      child_fail(ctx, rc, "set the hostname");
  }
}

void build_root(const ChildContext& ctx, GoReceived& in) {
  const char* what = "set up the file system";
  int upper = -1;
  // The plan's modes are meant as written (a 0644 /etc/resolv.conf must
  // be readable by every user inside), whatever the caller's umask; the
  // command then starts with Docker's 022.
  ctx.calls->umask(0);
  if (int rc = apply_mount_plan(*ctx.mounts, ctx.calls->mounts, in.trees, in.go.ntrees, in.sources,
                                ctx.sync_fd, &upper, &what);
      rc < 0)
    child_fail(ctx, rc, what);
  ctx.calls->umask(022);
  if (ctx.network_beside) {
    if (int rc = await_network_up(ctx.sync_fd, &what); rc < 0) child_fail(ctx, rc, what);
  }
  if (upper >= 0) {
    // The runner reads the command's changes through this fd once the
    // sandbox has gone; nothing inside keeps a way to it.
    Msg handoff{};
    handoff.type = MsgType::Upper;
    int rc = send_msg(ctx.sync_fd, handoff, &upper, 1);
    close(upper);
    if (rc < 0) child_fail(ctx, rc, "pass the upper dir to the runner");
  }
  for (unsigned i = 0; i < in.go.nfds; ++i) close(in.received[i]);
  for (unsigned i = 0; i < source_count(*ctx.mounts); ++i)
    if (in.sources[i] >= 0) close(in.sources[i]);
}

void set_rlimits(const ChildContext& ctx) {
  for (const auto& r : ctx.rlimits) {
    struct rlimit lim {
      r.soft, r.hard
    };
    if (int rc = ctx.calls->setrlimit(r.resource, &lim); rc < 0)
      child_fail(ctx, rc, "set the command's rlimits");
  }
}

void start_session(const ChildContext& ctx) {
  if (int rc = ctx.calls->setsid(); rc < 0)
    child_fail(ctx, rc, "start a session of the sandbox's own (setsid)");
}

}  // namespace coracle::sandbox
