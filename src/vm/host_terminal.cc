#include "vm/host_terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace coracle::vm {

HostTerminal::HostTerminal(int fd) : fd_(fd) {
  if (fd_ < 0 || !isatty(fd_) || tcgetattr(fd_, &saved_) < 0) return;
  struct termios raw = saved_;
  cfmakeraw(&raw);
  raw_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
}

HostTerminal::~HostTerminal() {
  if (raw_) tcsetattr(fd_, TCSANOW, &saved_);
}

std::string HostTerminal::size() const {
  struct winsize ws {};
  for (int fd : {fd_, 1, 2})
    if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
      return std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col);
  return "";
}

}  // namespace coracle::vm
