// The agent's side of ports: which TCP ports the command listens on (a
// sock_diag dump of the guest's one network namespace, again when the
// kernel says a socket died and every 250 ms), sent as Port frames; and
// the host's forwarded connections, each a TCP connection to 127.0.0.1
// inside, relayed as StreamData/StreamClose frames.
#pragma once
#include <poll.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/unique_fd.h"
#include "portmon/sock_diag.h"
#include "vm/protocol.h"

namespace coracle::vm {

class GuestPorts {
 public:
  explicit GuestPorts(int channel);
  // The fds to watch (after whatever the caller watches itself).
  void add_pollfds(std::vector<pollfd>& fds) const;
  // Readiness of the fds add_pollfds added, from fds[first] on.
  void on_poll(const std::vector<pollfd>& fds, size_t first);
  // Milliseconds until the next rescan is due (for poll's timeout).
  int timeout_ms() const;
  // Rescans when due (or now with force), sending a Port frame per change.
  void rescan(bool force = false);
  // Connect, StreamData, StreamClose from the host.
  void on_frame(const Frame& frame);

 private:
  struct Listening {
    std::string address;
    uint16_t port;
    bool operator<(const Listening& o) const {
      return port != o.port ? port < o.port : address < o.address;
    }
  };
  void close_stream(uint32_t id, bool tell_host);

  int channel_;
  portmon::SockDiag diag_;
  std::optional<portmon::DestroyEvents> destroyed_;
  std::set<Listening> open_;
  std::map<uint32_t, UniqueFd> streams_;  // host stream id -> connection inside
  std::chrono::steady_clock::time_point next_scan_;
};

}  // namespace coracle::vm
