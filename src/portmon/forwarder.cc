#include "portmon/forwarder.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

#include "common/error.h"
#include "sandbox/socket_factory.h"

namespace coracle::portmon {
namespace {

constexpr unsigned kPoolBatch = 16;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kExpiryInterval = std::chrono::seconds(5);

// Each connection holds six fds (two sockets, two pipes): the runner may
// use all it is allowed. Raised only here, after the sandbox has started,
// so the app keeps the limits it was given.
void raise_fd_limit() {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

std::string Forwarder::Binding::moved_note() const {
  if (spec.host_port == 0 || host.port == spec.host_port) return "";
  return "host port " + std::to_string(spec.host_port) + " is taken";
}

Forwarder::Forwarder(const Options& options) : options_(options) {
  for (const auto& spec : options_.publish) {
    auto b = std::make_unique<Binding>();
    b->spec = spec;
    b->host = bind_host(spec.proto, spec.host_ip, spec.host_port);
    bindings_.push_back(std::move(b));
  }
}

void Forwarder::start(EventLoop& loop, std::shared_ptr<sandbox::SocketFactory> sockets,
                      const std::map<uint64_t, PortEvent>* open_ports) {
  loop_ = &loop;
  sockets_ = std::move(sockets);
  open_ports_ = open_ports;
  raise_fd_limit();
  for (auto& b : bindings_) activate(*b);
}

void Forwarder::activate(Binding& b) {
  if (b.spec.proto == Proto::kUdp) {
    uint16_t port = b.spec.port;
    b.udp = std::make_unique<UdpRelay>(
        *loop_, std::move(b.host.fd),
        [this](int family) { return sandbox_socket(family, SOCK_DGRAM); },
        [this, port](sockaddr_storage& addr, socklen_t& len) {
          return target_for(Proto::kUdp, port, addr, len);
        });
    return;
  }
  // Accepted connections inherit TCP_NODELAY from their listener.
  no_delay(b.host.fd.get());
  accept_clients(b);
}

void Forwarder::accept_clients(Binding& b) {
  Binding* raw = &b;
  b.token = loop_->add(b.host.fd.get(), EPOLLIN, [this, raw](uint32_t) { on_accept(*raw); });
}

void Forwarder::on_accept(Binding& b) {
  for (;;) {
    UniqueFd client(accept4(b.host.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds: stop accepting for a moment rather than spin on a
        // listener that stays readable. Clients wait in the backlog.
        loop_->remove(b.token, b.host.fd.get());
        b.token = 0;
        b.paused_until = Clock::now() + kAcceptPause;
      }
      return;  // EAGAIN: all accepted; ECONNABORTED: that client gave up
    }
    sockaddr_storage target;
    socklen_t len;
    target_for(Proto::kTcp, b.spec.port, target, len);
    UniqueFd upstream;
    try {
      upstream = sandbox_socket(target.ss_family, SOCK_STREAM);
    } catch (const Error&) {
      return;  // the sandbox is ending; the client is closed
    }
    no_delay(upstream.get());  // the client's comes from the listener
    uint64_t id = next_relay_++;
    relays_.emplace(
        id, std::make_unique<TcpRelay>(*loop_, pipes_, std::move(client), std::move(upstream),
                                       target, len, [this, id] { finished_.push_back(id); }));
  }
}

// The app's address for a port: where it listens, with a wildcard turned
// into that family's loopback; 127.0.0.1 when it is not listening (yet).
bool Forwarder::target_for(Proto proto, uint16_t port, sockaddr_storage& addr,
                           socklen_t& len) const {
  std::string address = "127.0.0.1";
  bool found = false;
  if (open_ports_) {
    for (const auto& [cookie, e] : *open_ports_) {
      if (e.port.proto != proto || e.port.port != port) continue;
      if (found && e.port.family != AF_INET) continue;  // IPv4 is preferred
      found = true;
      address = e.port.address;
      if (address == "0.0.0.0") address = "127.0.0.1";
      if (address == "::") address = "::1";
      if (e.port.family == AF_INET) break;
    }
  }
  return make_sockaddr(address, port, addr, len);
}

UniqueFd Forwarder::sandbox_socket(int family, int type) {
  // Init makes them in batches: one round trip per kPoolBatch connections.
  auto& pool = pool_[{family, type}];
  if (pool.empty()) {
    pool = sockets_->make(family, type | SOCK_NONBLOCK, 0, kPoolBatch);
    std::reverse(pool.begin(), pool.end());
  }
  UniqueFd fd = std::move(pool.back());
  pool.pop_back();
  return fd;
}

void Forwarder::on_event(PortEvent& event) {
  const OpenPort& port = event.port;
  std::vector<Binding*> matching;
  for (auto& b : bindings_)
    if (b->spec.proto == port.proto && b->spec.port == port.port) matching.push_back(b.get());

  if (event.kind == PortEvent::Kind::kClose) {
    for (Binding* b : matching) {
      if (b->app_sockets > 0) --b->app_sockets;
      if (b->automatic && b->app_sockets == 0) {
        if (b->token) loop_->remove(b->token, b->host.fd.get());
        bindings_.erase(std::find_if(bindings_.begin(), bindings_.end(),
                                     [b](const auto& p) { return p.get() == b; }));
      }
    }
    return;
  }

  if (matching.empty() && options_.publish_all && port.proto == Proto::kTcp) {
    auto b = std::make_unique<Binding>();
    uint16_t host_port = automatic_host_port(port.port);
    b->spec = Publish{Proto::kTcp, "127.0.0.1", host_port, port.port};
    b->automatic = true;
    try {
      b->host = bind_host(Proto::kTcp, "127.0.0.1", host_port);
    } catch (const Error& e) {
      event.note = std::string("not forwarded: ") + e.what();
      return;
    }
    activate(*b);
    matching.push_back(b.get());
    bindings_.push_back(std::move(b));
  }
  if (matching.empty()) return;
  for (Binding* b : matching) ++b->app_sockets;
  const Binding& first = *matching.front();
  event.host_address = first.host.address;
  event.host_port = first.host.port;
  event.note = first.moved_note();
}

void Forwarder::tick() {
  for (uint64_t id : finished_) relays_.erase(id);
  finished_.clear();
  auto now = Clock::now();
  for (auto& b : bindings_) {
    if (b->paused_until != Clock::time_point{} && now >= b->paused_until) {
      b->paused_until = {};
      accept_clients(*b);
    }
  }
  if (now >= next_expiry_) {
    next_expiry_ = now + kExpiryInterval;
    for (auto& b : bindings_)
      if (b->udp) b->udp->expire(now);
  }
}

Clock::time_point Forwarder::next_deadline() const {
  Clock::time_point next = next_expiry_;
  for (const auto& b : bindings_)
    if (b->paused_until != Clock::time_point{}) next = std::min(next, b->paused_until);
  return next;
}

}  // namespace coracle::portmon
