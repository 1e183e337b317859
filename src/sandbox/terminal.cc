#include "sandbox/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace coracle::sandbox {
namespace {

// write(2) until done; a closed or broken output only drops the bytes.
void write_fully(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

TerminalRelay::TerminalRelay(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}

TerminalRelay::~TerminalRelay() {
  // Every way out of a run passes here: the user's terminal is given back
  // as it was.
  if (raw_) tcsetattr(raw_fd_, TCSAFLUSH, &saved_);
}

void TerminalRelay::attach(UniqueFd master) {
  master_ = std::move(master);
  master_open_ = static_cast<bool>(master_);
  fcntl(master_.get(), F_SETFL, fcntl(master_.get(), F_GETFL) | O_NONBLOCK);
  resize();
  if (in_fd_ >= 0 && isatty(in_fd_) && tcgetattr(in_fd_, &saved_) == 0) {
    struct termios raw = saved_;
    cfmakeraw(&raw);
    raw_ = tcsetattr(in_fd_, TCSANOW, &raw) == 0;
    raw_fd_ = in_fd_;
  } else if (in_fd_ < 0 && isatty(out_fd_) && tcgetattr(out_fd_, &saved_) == 0) {
    // No input (-t without -i): Ctrl-C stays coracle's to forward; only the
    // output is left as the sandbox's pty made it (no second \r per line).
    struct termios out = saved_;
    out.c_oflag &= ~static_cast<tcflag_t>(OPOST);
    raw_ = tcsetattr(out_fd_, TCSANOW, &out) == 0;
    raw_fd_ = out_fd_;
  }
}

void TerminalRelay::resize() {
  if (!master_open_) return;
  struct winsize ws {};
  int from = in_fd_ >= 0 && isatty(in_fd_) ? in_fd_ : out_fd_;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
    ioctl(master_.get(), TIOCSWINSZ, &ws);
}

void TerminalRelay::from_master() {
  char buf[16384];
  while (true) {
    ssize_t n = read(master_.get(), buf, sizeof buf);
    if (n > 0) {
      write_fully(out_fd_, buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EAGAIN: nothing more now. EIO: every slave is closed (the command
    // and its children are gone).
    if (n == 0 || (n < 0 && errno != EAGAIN)) master_open_ = false;
    return;
  }
}

void TerminalRelay::from_input() {
  char buf[4096];
  ssize_t n = read(in_fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    in_fd_ = -1;  // the input ended: the command keeps running without it
    return;
  }
  if (master_open_) write_fully(master_.get(), buf, static_cast<size_t>(n));
}

void TerminalRelay::drain() {
  if (master_open_) from_master();
}

}  // namespace coracle::sandbox

namespace coracle::sandbox {

UniqueFd connect_console_socket(const std::string& path) {
  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error("console socket path too long: " + path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (!sock || connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    throw_errno("cannot connect to the console socket " + path);
  return sock;
}

int send_console_master(int sock, int master) {
  char name[] = "/dev/ptmx";
  struct iovec iov = {name, sizeof name - 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof master);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

}  // namespace coracle::sandbox
