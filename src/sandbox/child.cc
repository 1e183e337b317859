// The sandbox's side of a run, as a table of contents: each line one step,
// each step in the file of its concern (child_steps.h). The numbers are
// the sync points of sync.h.
#include "sandbox/child.h"

#include <csignal>

#include "sandbox/child_steps.h"

namespace coracle::sandbox {

void child_main(const ChildContext& ctx) {
  tie_to_runner(ctx);
  scrub_process_strings(ctx);
  set_oom_score(ctx);
  bring_up_loopback(ctx);
  GoReceived go;
  await_go(ctx, go);  // sync 3
  become_container_root(ctx);
  build_root(ctx, go);                          // sync 4 (Network), 5 (NetworkUp), 6 (Upper)
  size_t hook_state = receive_hook_state(ctx);  // sync 7
  if (ctx.create_hooks) run_hooks_or_fail(ctx, *ctx.create_hooks, "createContainer", hook_state);
  set_rlimits(ctx);
  start_session(ctx);
  // Blocked before the command's start, so that no SIGCHLD or forwarded
  // signal arrives before init waits for it; the command unblocks all.
  sigset_t wait_set = ctx.forwarded;
  sigaddset(&wait_set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &wait_set, nullptr);
  int tty_slave = open_command_terminal(ctx);       // sync 8 (Pty)
  if (ctx.start_fifo_fd >= 0) wait_for_start(ctx);  // sync 9 (Ready)
  if (ctx.start_hooks) run_hooks_or_fail(ctx, *ctx.start_hooks, "startContainer", hook_state);
  pid_t command = start_command(ctx, tty_slave);  // sync 10 (Listener), or Failure
  init_loop(ctx, command);                        // sync 11 (Started), 12 (Exited)
}

}  // namespace coracle::sandbox
