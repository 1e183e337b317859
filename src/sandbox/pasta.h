// Outbound networking for a sandbox's own network namespace, through pasta
// (Debian package passt, podman's choice): pasta joins the namespace, gives
// it a tap interface with the host's addresses and routes, and carries the
// sandbox's TCP, UDP and ICMP out through ordinary sockets of the host.
// Rootless as well as root.
//
// What it must not do, and the flags that say so:
//  - reach the host itself: --no-map-gw (by default pasta maps the
//    gateway's address to the host's loopback, which would hand the
//    sandbox every service bound to the host's 127.0.0.1);
//  - publish or import ports on its own: -t/-u/-T/-U none (coracle's port
//    monitor decides what is forwarded, on which address).
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace coracle::sandbox {

// The address a sandbox with pasta sends DNS queries to when the host's
// resolver is on its loopback: pasta forwards them to the host's first
// IPv4 resolver (--dns-forward).
inline constexpr const char* kPastaDnsForward = "169.254.1.1";

// Whether pasta (and the micro-VM's passt) must forward DNS for a host
// with this /etc/resolv.conf: when its first IPv4 nameserver is on the
// loopback (systemd-resolved's stub, a local dnsmasq), which a namespace
// of its own cannot reach, or when it names none (glibc then asks
// 127.0.0.1). Otherwise the sandbox asks the host's resolvers itself, as
// the host does: pasta rewrites the source of every reply from the first
// resolver to the forwarding address once it forwards, so a query sent
// straight to that resolver would get its reply from an address glibc's
// connected socket drops; and a forwarded query has no TCP fallback.
bool pasta_forwards_dns(std::string_view host_resolv_conf);
// The host's /etc/resolv.conf, or "" when it cannot be read.
std::string host_resolv_conf();

class Pasta {
 public:
  // Starts pasta for the network and user namespaces of pid (which must
  // still be inspectable: before the sandbox's init turns non-dumpable) and
  // returns once the interface is configured. Throws coracle::Error, naming
  // the package when pasta is missing.
  static std::unique_ptr<Pasta> start(pid_t pid);
  // Stops it.
  ~Pasta();
  Pasta(const Pasta&) = delete;
  Pasta& operator=(const Pasta&) = delete;

 private:
  Pasta(UniqueFd pidfd, pid_t pid) : pidfd_(std::move(pidfd)), pid_(pid) {}
  UniqueFd pidfd_;  // pasta's, our child's
  pid_t pid_;
};

// Where pasta is: coracle's own build (libexec/coracle/ beside the binary
// or in PREFIX), else PATH, then /usr/bin; "" when there is none.
std::string pasta_path();

}  // namespace coracle::sandbox
