// The kernel's own answer to "which ports are open": NETLINK_SOCK_DIAG
// (inet_diag) dumps of TCP listeners and bound UDP sockets, IPv4 and IPv6,
// in one network namespace. Peers parse /proc/net/tcp{,6} and udp{,6}
// text; a dump is one sendmsg and a few recvmsg of binary records.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::portmon {

enum class Proto { kTcp, kUdp };
const char* proto_name(Proto p);  // "tcp", "udp"

struct OpenPort {
  Proto proto = Proto::kTcp;
  int family = 0;       // AF_INET or AF_INET6
  std::string address;  // "0.0.0.0", "::", "127.0.0.1"
  uint16_t port = 0;
  uint64_t inode = 0;   // the socket's inode: its owner is found by it
  uint64_t cookie = 0;  // the kernel's id of the socket, also in destroy events
  uint32_t uid = 0;     // as the kernel sees it (host ids)
  bool operator<(const OpenPort& o) const;
  bool operator==(const OpenPort& o) const;
};

class SockDiag {
 public:
  // A query socket in the calling thread's network namespace.
  SockDiag();
  // A NETLINK_SOCK_DIAG socket made elsewhere (e.g. by a sandbox's init, in
  // its network namespace).
  explicit SockDiag(UniqueFd fd) : fd_(std::move(fd)) {}
  // A query socket in the network namespace of netns_fd (an open
  // /proc/PID/ns/net): created by a short-lived thread that joins it, so
  // the caller's own namespace never changes.
  static SockDiag in_netns(int netns_fd);

  // TCP sockets in LISTEN and UDP sockets bound to a port and not
  // connected (a server's, not a client's), both families, sorted. Throws
  // coracle::Error if the kernel refuses the dump.
  std::vector<OpenPort> open_ports();
  // The same for one protocol and family (AF_INET, AF_INET6), unsorted;
  // with port, only sockets on that local port (filtered in the kernel, so
  // the answer stays small however many ports are open).
  void dump(Proto proto, int family, std::vector<OpenPort>& out, uint16_t port = 0);

 private:
  UniqueFd fd_;
  uint32_t seq_ = 0;
};

// The kernel's broadcast of destroyed TCP and UDP sockets (sock_diag
// multicast groups) in the network namespace of the socket it is given. A
// closed listener shows here at once, with no polling.
class DestroyEvents {
 public:
  // Joins the four destroy groups on fd (a NETLINK_SOCK_DIAG socket, made
  // non-blocking here). Throws coracle::Error.
  explicit DestroyEvents(UniqueFd fd);
  int fd() const { return fd_.get(); }
  // Appends the cookies of destroyed sockets read so far. Returns false if
  // the kernel dropped some (the receive buffer overflowed): the caller
  // must compare with a fresh dump.
  bool read(std::vector<uint64_t>& cookies);

 private:
  UniqueFd fd_;
};

// The local port of an inet socket (getsockname), 0 if it has none.
uint16_t local_port(int fd);

// Which process holds each socket inode, among pid and its descendants
// (a sandbox's processes), from /proc/PID/fd links "socket:[INODE]".
std::map<uint64_t, pid_t> socket_owners(pid_t root_pid);

}  // namespace coracle::portmon
