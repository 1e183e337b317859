// The runner's side of Spec::tty: the user's terminal relayed to and from
// the pty master that the sandbox's init hands over. The user's terminal is
// put in raw mode for the run (so Ctrl-C, Ctrl-Z and the arrow keys reach
// the command's line discipline, not coracle) and restored when the relay
// ends, whatever ended the run; the pty takes the terminal's size at the
// start and on every SIGWINCH.
#pragma once
#include <termios.h>

#include <string>

#include "common/unique_fd.h"

namespace coracle::sandbox {

class TerminalRelay {
 public:
  // in_fd (-1: no input) and out_fd are the user's side.
  TerminalRelay(int in_fd, int out_fd);
  ~TerminalRelay();
  TerminalRelay(const TerminalRelay&) = delete;
  TerminalRelay& operator=(const TerminalRelay&) = delete;

  // The pty master from the sandbox: raw mode and the size start now.
  void attach(UniqueFd master);
  // The user's terminal changed size (SIGWINCH).
  void resize();
  // For poll: the master (-1 before attach or once it is done) and the
  // input (-1 without input or at its end).
  int master_fd() const { return master_open_ ? master_.get() : -1; }
  int input_fd() const { return in_fd_; }
  // Moves what is there; false once that side is done.
  void from_master();
  void from_input();
  // After the command has ended: what is still in the pty's buffer.
  void drain();

 private:
  int in_fd_, out_fd_;
  int raw_fd_ = -1;  // the terminal put in raw mode, to restore
  UniqueFd master_;
  bool master_open_ = false;
  bool raw_ = false;
  struct termios saved_ {};
};

// An OCI engine's --console-socket (runc's protocol): a unix stream socket
// that takes one message carrying the pty master (SCM_RIGHTS) and the
// terminal's name. Connected by the runner (throws coracle::Error), so
// that a process in another mount namespace can still send on it.
UniqueFd connect_console_socket(const std::string& path);
// Sends master on it; allocation-free, for a forked child. 0 or -errno.
int send_console_master(int sock, int master);

}  // namespace coracle::sandbox
