// The framing spoken between coracle and its fetcher helper (fetcher/) over
// a socketpair: a type byte, a 32-bit length, then the payload. Shared by
// both sides, so it uses nothing but libc.
//
// coracle -> fetcher:  'I' options JSON (once: CA bundle, timeouts)
//                      'Q' request JSON {method, url, headers, insecure_tls,
//                          no_loopback, body_size (-1: no body)}
//                      'B' request body bytes, one frame per 'R' (empty:
//                          no more)
// fetcher -> coracle:  'H' the final response's status and headers (JSON;
//                          redirects already followed)
//                      'D' body bytes, as they arrive
//                      'R' asks for the next piece of the request body
//                          (payload: the most it takes, 4 bytes)
//                      'E' the end of the transfer: {ok, error, curl_code,
//                          refused_loopback}
// The body is pulled, piece by piece, as curl sends it: a server that
// answers before reading it all leaves nothing blocked on either side.
#pragma once
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>

namespace coracle::fetch {

enum FrameType : char {
  kInit = 'I',
  kRequest = 'Q',
  kHeaders = 'H',
  kData = 'D',
  kEnd = 'E',
  kBodyRequest = 'R',
  kBody = 'B',
};

// Frames larger than this are a protocol error (a body comes in pieces).
inline constexpr uint32_t kMaxFrame = 16u << 20;

struct FrameHeader {
  char type;
  uint32_t length;
} __attribute__((packed));

// Writes one frame; false on a broken pipe or any other write error.
inline bool write_frame(int fd, char type, const void* data, size_t size) {
  FrameHeader h{type, static_cast<uint32_t>(size)};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<void*>(data), size}};
  int n_iov = 2;
  iovec* cur = iov;
  while (n_iov > 0) {
    // sendmsg, not writev: MSG_NOSIGNAL turns a peer that died into an
    // error instead of a SIGPIPE that would kill coracle mid-pull.
    msghdr msg{};
    msg.msg_iov = cur;
    msg.msg_iovlen = static_cast<size_t>(n_iov);
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    while (n_iov > 0 && static_cast<size_t>(n) >= cur->iov_len) {
      n -= static_cast<ssize_t>(cur->iov_len);
      ++cur;
      --n_iov;
    }
    if (n_iov > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + n;
      cur->iov_len -= static_cast<size_t>(n);
    }
  }
  return true;
}

inline bool read_exact(int fd, void* data, size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads one frame into payload; false at end of stream or on a bad frame.
inline bool read_frame(int fd, char& type, std::string& payload) {
  FrameHeader h;
  if (!read_exact(fd, &h, sizeof h) || h.length > kMaxFrame) return false;
  type = h.type;
  payload.resize(h.length);
  return h.length == 0 || read_exact(fd, payload.data(), h.length);
}

}  // namespace coracle::fetch
