// Makes the sandbox's ports reachable from the host: a host socket per
// forward (each `-p`, and with publish-all each TCP port the tracker sees),
// and for each connection or UDP client a socket made inside the sandbox's
// network namespace by its init (sandbox::SocketFactory) that reaches the
// app on its loopback. No veth, no iptables, no privileges: it works the
// same for a rootless runner.
#pragma once
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "portmon/event_loop.h"
#include "portmon/pipe_pool.h"
#include "portmon/port_tracker.h"
#include "portmon/publish.h"
#include "portmon/tcp_relay.h"
#include "portmon/udp_relay.h"

namespace coracle::sandbox {
class SocketFactory;
}

namespace coracle::portmon {

class Forwarder {
 public:
  struct Options {
    std::vector<Publish> publish;
    bool publish_all = false;  // every TCP port the app opens, from 127.0.0.1
  };
  // A host side that is bound: what the user reads to reach the app.
  struct Binding {
    Publish spec;              // as asked (host_port 0: any)
    HostSocket host;           // as bound
    bool automatic = false;    // made by publish-all for a port the app opened
    unsigned app_sockets = 0;  // open app sockets on spec.port
    EventLoop::Token token = 0;
    std::unique_ptr<UdpRelay> udp;
    Clock::time_point paused_until{};  // accept() ran out of fds
    // "host port 8080 is taken" when the host port differs from the one
    // asked for; empty otherwise.
    std::string moved_note() const;
  };

  // Binds the host side of every `-p` now, before the sandbox starts, so a
  // bad address fails early. Throws coracle::Error.
  explicit Forwarder(const Options& options);
  const std::vector<std::unique_ptr<Binding>>& bindings() const { return bindings_; }

  // From here on the loop's thread owns everything.
  void start(EventLoop& loop, std::shared_ptr<sandbox::SocketFactory> sockets,
             const std::map<uint64_t, PortEvent>* open_ports);
  // A port opened or closed: adds the host side to the event (and with
  // publish-all, creates or removes it).
  void on_event(PortEvent& event);
  // Destroys finished connections, resumes paused listeners, forgets idle
  // UDP clients. Called after every loop iteration.
  void tick();
  Clock::time_point next_deadline() const;

 private:
  void activate(Binding& b);
  void accept_clients(Binding& b);  // (again) watches the host listener
  void on_accept(Binding& b);
  bool target_for(Proto proto, uint16_t port, sockaddr_storage& addr, socklen_t& len) const;
  UniqueFd sandbox_socket(int family, int type);

  Options options_;
  EventLoop* loop_ = nullptr;
  std::shared_ptr<sandbox::SocketFactory> sockets_;
  const std::map<uint64_t, PortEvent>* open_ports_ = nullptr;
  std::vector<std::unique_ptr<Binding>> bindings_;
  // Members go in reverse order: relays first (they give their pipes back
  // and leave the loop), then the pool, then the bindings.
  PipePool pipes_;
  std::unordered_map<uint64_t, std::unique_ptr<TcpRelay>> relays_;
  std::vector<uint64_t> finished_;
  uint64_t next_relay_ = 1;
  std::map<std::pair<int, int>, std::vector<UniqueFd>> pool_;  // (family, type)
  Clock::time_point next_expiry_{};
};

}  // namespace coracle::portmon
