// The host's side of a VM's ports: the guest's Port frames become port
// events (as the namespace backend's monitor gives them) and, for -p and
// -P, host sockets whose connections are relayed to the guest over the
// agent's channel (Connect, StreamData, StreamClose frames). No vsock or
// vhost is needed, so it works under TCG and with any VMM.
#pragma once
#include <poll.h>

#include <functional>
#include <map>
#include <vector>

#include "common/unique_fd.h"
#include "portmon/port_tracker.h"
#include "portmon/publish.h"
#include "vm/protocol.h"

namespace coracle::vm {

struct PortOptions {
  std::vector<portmon::Publish> publish;  // -p (TCP only for now)
  bool publish_all = false;               // -P: every TCP port, from 127.0.0.1
  std::function<void(const portmon::PortEvent&)> on_event;
};

class HostPorts {
 public:
  HostPorts(int channel, PortOptions options);
  void add_pollfds(std::vector<pollfd>& fds) const;
  void on_poll(const std::vector<pollfd>& fds, size_t first);
  // Port, StreamData, StreamClose from the guest.
  void on_frame(const Frame& frame);
  // The run has ended: every port still open is reported closed.
  void close_all();

 private:
  struct Stream {
    UniqueFd fd;
    bool eof_sent = false;  // the client is done sending; its answer may still come
  };
  void open_port(const std::string& address, uint16_t port);
  void close_port(const std::string& address, uint16_t port);

  int channel_;
  PortOptions options_;
  std::map<std::pair<std::string, uint16_t>, portmon::PortEvent> open_;  // (address, port)
  std::map<uint16_t, portmon::HostSocket> listeners_;                    // by guest port
  std::map<uint32_t, Stream> streams_;
  uint32_t next_id_ = 1;
};

}  // namespace coracle::vm
