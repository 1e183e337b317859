// `-p` specs and the host side of a forward: a socket bound on the host,
// on the port asked for or, when that one is taken, the next free one.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "common/unique_fd.h"
#include "portmon/sock_diag.h"

namespace coracle::portmon {

struct Publish {
  Proto proto = Proto::kTcp;
  std::string host_ip;     // "" for every address (0.0.0.0 and ::)
  uint16_t host_port = 0;  // 0: any free port
  uint16_t port = 0;       // the app's port inside the sandbox
};

// Docker's forms: PORT, HOSTPORT:PORT, HOSTIP:HOSTPORT:PORT, HOSTIP::PORT,
// [V6IP]:HOSTPORT:PORT, each with an optional /tcp or /udp. Throws
// coracle::Error naming what is wrong.
Publish parse_publish(const std::string& text);

struct HostSocket {
  UniqueFd fd;
  std::string address;  // as shown to people: "0.0.0.0", "127.0.0.1", "::1"
  uint16_t port = 0;
};

// Binds (and for TCP, listens on) ip:port on the host, non-blocking. When
// port is taken, tries the following ports, up to 100 of them, then lets the
// kernel choose. Throws coracle::Error for an address that is not the
// host's or when nothing can be bound.
HostSocket bind_host(Proto proto, const std::string& ip, uint16_t port);

// The host port for an app's port that no one published by hand (-P, a
// chain's state/ports), the same for every backend: the app's own number,
// except that a privileged one (below 1024) becomes any free port. A local
// user trusts 127.0.0.1:22 or :81 to be the host's own; only the user's
// own -p may take such a port.
inline uint16_t automatic_host_port(uint16_t app_port) {
  return app_port < 1024 ? 0 : app_port;
}

// "127.0.0.1:8080", "[::1]:8080".
std::string host_and_port(const std::string& address, uint16_t port);

// Fills a sockaddr for address:port (IPv4 or IPv6 text). False if address
// is not an IP literal.
bool make_sockaddr(const std::string& address, uint16_t port, sockaddr_storage& out,
                   socklen_t& len);

}  // namespace coracle::portmon
