#include "portmon/publish.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::portmon {
namespace {

// zero_ok: the host side of IP::PORT, where nothing (or 0) means any port.
uint16_t parse_port(const std::string& text, const std::string& spec, bool zero_ok) {
  if (text.empty() && zero_ok) return 0;
  char* end = nullptr;
  errno = 0;
  unsigned long v = text.empty() ? 0 : strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v > 65535 || (v == 0 && !zero_ok))
    throw Error("-p " + spec + ": '" + text + "' is not a port (1-65535)");
  return static_cast<uint16_t>(v);
}

}  // namespace

Publish parse_publish(const std::string& text) {
  Publish p;
  std::string rest = text;
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    std::string proto = rest.substr(slash + 1);
    if (proto == "udp")
      p.proto = Proto::kUdp;
    else if (proto != "tcp")
      throw Error("-p " + text + ": the protocol is tcp or udp, not '" + proto + "'");
    rest = rest.substr(0, slash);
  }
  // An IPv6 host address comes in brackets: [::1]:8080:80.
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      throw Error("-p " + text + ": expected [IPV6]:HOSTPORT:PORT");
    p.host_ip = rest.substr(1, close - 1);
    rest = rest.substr(close + 2);
    auto colon = rest.find(':');
    if (colon == std::string::npos) throw Error("-p " + text + ": expected [IPV6]:HOSTPORT:PORT");
    p.host_port = parse_port(rest.substr(0, colon), text, true);
    p.port = parse_port(rest.substr(colon + 1), text, false);
  } else {
    auto parts = split(rest, ':');
    if (parts.size() == 1) {
      p.port = parse_port(parts[0], text, false);
    } else if (parts.size() == 2) {
      p.host_port = parse_port(parts[0], text, false);
      p.port = parse_port(parts[1], text, false);
    } else if (parts.size() == 3) {
      p.host_ip = parts[0];
      p.host_port = parse_port(parts[1], text, true);  // IP::PORT: any host port
      p.port = parse_port(parts[2], text, false);
    } else {
      throw Error("-p " + text + ": expected [HOSTIP:]HOSTPORT:PORT[/udp]");
    }
  }
  sockaddr_storage ss;
  socklen_t len;
  if (!p.host_ip.empty() && !make_sockaddr(p.host_ip, 0, ss, len))
    throw Error("-p " + text + ": '" + p.host_ip + "' is not an IP address");
  return p;
}

bool make_sockaddr(const std::string& address, uint16_t port, sockaddr_storage& out,
                   socklen_t& len) {
  memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
    return true;
  }
  return false;
}

std::string host_and_port(const std::string& address, uint16_t port) {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

namespace {

// One attempt: -errno on failure.
int try_bind(Proto proto, const sockaddr_storage& addr, socklen_t len, bool dual_stack,
             UniqueFd& out) {
  int type = (proto == Proto::kTcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  UniqueFd fd(socket(addr.ss_family, type, 0));
  if (!fd) return -errno;
  int one = 1, zero = 0;
  // TIME_WAIT from an earlier run must not make the port look taken; a
  // live listener still does (Linux refuses a second one).
  if (proto == Proto::kTcp) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (dual_stack) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) < 0) return -errno;
  if (proto == Proto::kTcp && listen(fd.get(), SOMAXCONN) < 0) return -errno;
  out = std::move(fd);
  return 0;
}

}  // namespace

HostSocket bind_host(Proto proto, const std::string& ip, uint16_t port) {
  // Every address: one dual-stack IPv6 socket, or IPv4 alone on a host
  // without IPv6.
  bool all = ip.empty();
  std::string address = all ? "::" : ip;
  sockaddr_storage addr;
  socklen_t len;
  if (!make_sockaddr(address, port, addr, len)) throw Error("'" + ip + "' is not an IP address");
  HostSocket out;
  out.address = all ? "0.0.0.0" : ip;
  int rc = 0;
  unsigned tries = 0;
  for (uint32_t p = port; tries < 101; ++tries) {
    make_sockaddr(address, static_cast<uint16_t>(p), addr, len);
    rc = try_bind(proto, addr, len, all && addr.ss_family == AF_INET6, out.fd);
    if (rc == -EAFNOSUPPORT && all && addr.ss_family == AF_INET6) {
      address = "0.0.0.0";  // no IPv6 on this host
      continue;
    }
    if (rc == 0) {
      out.port = local_port(out.fd.get());
      return out;
    }
    if (rc != -EADDRINUSE && rc != -EACCES) break;
    // Taken (or privileged for a rootless runner): the next one, or any.
    p = (p == 0 || p >= 65535 || tries == 99) ? 0 : p + 1;
  }
  throw_errno(
      "cannot bind " + host_and_port(out.address, port) + "/" + proto_name(proto) + " on the host",
      -rc);
}

}  // namespace coracle::portmon
