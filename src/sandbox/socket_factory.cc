#include "sandbox/socket_factory.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {

static_assert(SocketFactory::kMaxBatch <= kMaxMsgFds);

std::vector<UniqueFd> SocketFactory::make(int family, int type, int protocol, unsigned count) {
  if (count == 0 || count > kMaxBatch) throw Error("socket factory: bad batch size");
  std::lock_guard lock(mutex_);
  Msg request{};
  request.type = MsgType::SocketRequest;
  request.args[0] = family;
  request.args[1] = type;
  request.args[2] = protocol;
  request.args[3] = static_cast<int32_t>(count);
  auto ended = [](int rc) { return rc == -EPIPE || rc == -ECONNRESET; };
  if (int rc = send_msg(channel_.get(), request); rc < 0) {
    if (ended(rc)) throw SandboxEnded();
    throw_errno("cannot ask the sandbox for a socket", -rc);
  }
  Msg reply{};
  int fds[kMaxBatch];
  if (int rc = recv_msg(channel_.get(), reply, fds, kMaxBatch); rc < 0) {
    if (ended(rc)) throw SandboxEnded();
    throw_errno("the sandbox did not answer a socket request", -rc);
  }
  std::vector<UniqueFd> out;
  for (unsigned i = 0; i < reply.nfds; ++i) out.emplace_back(fds[i]);
  if (reply.type != MsgType::SocketReply) throw Error("socket factory: unexpected reply");
  if (reply.err) throw_errno("cannot create a socket in the sandbox", reply.err);
  if (out.size() != count) throw Error("socket factory: short reply");
  return out;
}

int serve_socket_request(int fd) {
  Msg request{};
  if (int rc = recv_msg(fd, request); rc < 0) return rc;
  Msg reply{};
  reply.type = MsgType::SocketReply;
  int fds[SocketFactory::kMaxBatch];
  unsigned made = 0;
  int count = request.args[3];
  if (request.type != MsgType::SocketRequest || count < 1 ||
      count > static_cast<int>(SocketFactory::kMaxBatch)) {
    reply.err = EPROTO;
  } else {
    for (; made < static_cast<unsigned>(count); ++made) {
      // Close-on-exec regardless of the request: init never execs, but no
      // fd of the runner's should be able to reach a process that does.
      fds[made] = socket(request.args[0], request.args[1] | SOCK_CLOEXEC, request.args[2]);
      if (fds[made] < 0) {
        reply.err = errno;
        break;
      }
    }
  }
  int rc = send_msg(fd, reply, fds, reply.err ? 0 : made);
  for (unsigned i = 0; i < made; ++i) close(fds[i]);
  return rc;
}

}  // namespace coracle::sandbox
