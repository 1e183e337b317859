// The user's terminal while a micro-VM's command has a pty (exec --vm -t):
// raw mode for the run (Ctrl-C, Ctrl-Z and the arrow keys go to the
// guest's pty, whose line discipline makes the signals), given back as it
// was; its size for the guest, at the start and on each SIGWINCH.
#pragma once
#include <termios.h>

#include <string>

namespace coracle::vm {

class HostTerminal {
 public:
  // fd: the terminal (the run's stdin); not a terminal: nothing happens.
  explicit HostTerminal(int fd);
  ~HostTerminal();
  HostTerminal(const HostTerminal&) = delete;
  HostTerminal& operator=(const HostTerminal&) = delete;
  // "ROWS COLS" (a Resize frame's payload), or "" when the size is unknown.
  std::string size() const;
  bool is_terminal() const { return raw_; }

 private:
  int fd_ = -1;
  bool raw_ = false;
  struct termios saved_ {};
};

}  // namespace coracle::vm
