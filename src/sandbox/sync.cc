#include "sandbox/sync.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coracle::sandbox {

int send_msg(int sock, const Msg& msg, const int* fds, unsigned nfds) {
  if (nfds > kMaxMsgFds) return -EINVAL;
  Msg copy = msg;
  copy.nfds = nfds;
  struct iovec iov {
    &copy, sizeof copy
  };
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxMsgFds)];
  struct msghdr mh {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds > 0) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
  }
  while (true) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof copy)) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -errno : -EIO;
  }
}

int recv_msg(int sock, Msg& msg, int* fds, unsigned max_fds) {
  struct iovec iov {
    &msg, sizeof msg
  };
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxMsgFds)];
  struct msghdr mh {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;
  if (n != static_cast<ssize_t>(sizeof msg)) return -EPROTO;
  unsigned got = 0;
  for (struct cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    unsigned count = static_cast<unsigned>((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    const int* passed = reinterpret_cast<const int*>(CMSG_DATA(cm));
    for (unsigned i = 0; i < count; ++i) {
      // Never leak an fd the peer sent beyond what the caller can hold.
      if (fds && got < max_fds)
        fds[got++] = passed[i];
      else
        close(passed[i]);
    }
  }
  msg.nfds = got;
  msg.context[sizeof msg.context - 1] = '\0';
  return 0;
}

void fail_child(int sock, int err, const char* context, int exit_code) {
  Msg msg{};
  msg.type = MsgType::Failure;
  msg.err = err;
  msg.exit_code = exit_code;
  strncpy(msg.context, context, sizeof msg.context - 1);
  send_msg(sock, msg);
  _exit(exit_code);
}

}  // namespace coracle::sandbox
