#include "vm/host_ports.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "vm/agent_run.h"

namespace coracle::vm {

HostPorts::HostPorts(int channel, PortOptions options)
    : channel_(channel), options_(std::move(options)) {}

void HostPorts::add_pollfds(std::vector<pollfd>& fds) const {
  for (const auto& [port, l] : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
  for (const auto& [id, s] : streams_)
    fds.push_back({s.fd.get(), static_cast<short>(s.eof_sent ? 0 : POLLIN), 0});
}

void HostPorts::on_poll(const std::vector<pollfd>& fds, size_t first) {
  size_t i = first;
  std::vector<std::pair<uint16_t, int>> accepted;
  for (const auto& [port, l] : listeners_) {
    if (i < fds.size() && fds[i++].revents) {
      int fd = accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) accepted.emplace_back(port, fd);
    }
  }
  char buf[65536];
  std::vector<uint32_t> ended;
  for (auto& [id, s] : streams_) {
    if (i >= fds.size()) break;
    if (!fds[i++].revents) continue;
    ssize_t n = read(s.fd.get(), buf, sizeof buf);
    if (n > 0) {
      send_all(channel_, encode_frame(FrameType::StreamData, stream_payload(id, {buf, size_t(n)})));
    } else if (n == 0) {
      s.eof_sent = true;
      send_all(channel_, encode_frame(FrameType::StreamClose, stream_payload(id)));
    } else if (errno != EINTR) {
      ended.push_back(id);
    }
  }
  for (uint32_t id : ended) {
    streams_.erase(id);
    send_all(channel_, encode_frame(FrameType::StreamClose, stream_payload(id)));
  }
  for (const auto& [port, fd] : accepted) {
    uint32_t id = next_id_++;
    streams_[id].fd.reset(fd);
    nlohmann::json j = {{"id", id}, {"port", port}};
    send_all(channel_, encode_frame(FrameType::Connect, j.dump()));
  }
}

void HostPorts::open_port(const std::string& address, uint16_t port) {
  portmon::PortEvent e;
  e.kind = portmon::PortEvent::Kind::kOpen;
  e.port.proto = portmon::Proto::kTcp;
  e.port.family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  e.port.address = address;
  e.port.port = port;
  e.time = std::chrono::system_clock::now();
  // One host socket per guest port, whichever address the app listens on.
  if (!listeners_.count(port)) {
    try {
      for (const auto& p : options_.publish)
        if (p.proto == portmon::Proto::kTcp && p.port == port)
          listeners_[port] = portmon::bind_host(p.proto, p.host_ip, p.host_port);
      if (!listeners_.count(port) && options_.publish_all)
        listeners_[port] = portmon::bind_host(portmon::Proto::kTcp, "127.0.0.1",
                                              portmon::automatic_host_port(port));
    } catch (const Error& err) {
      e.note = err.what();
    }
  }
  if (auto it = listeners_.find(port); it != listeners_.end()) {
    e.host_address = it->second.address;
    e.host_port = it->second.port;
  }
  open_[{address, port}] = e;
  if (options_.on_event) options_.on_event(e);
}

void HostPorts::close_port(const std::string& address, uint16_t port) {
  auto it = open_.find({address, port});
  if (it == open_.end()) return;
  portmon::PortEvent e = it->second;
  open_.erase(it);
  e.kind = portmon::PortEvent::Kind::kClose;
  e.time = std::chrono::system_clock::now();
  bool still_open = false;
  for (const auto& [key, ev] : open_) still_open |= key.second == port;
  if (!still_open) listeners_.erase(port);
  if (options_.on_event) options_.on_event(e);
}

void HostPorts::on_frame(const Frame& f) {
  if (f.type == FrameType::Port) {
    auto j = nlohmann::json::parse(f.payload, nullptr, false);
    if (!j.is_object() || j.value("proto", "") != "tcp") return;
    std::string address = j.value("address", "");
    uint16_t port = j.value("port", static_cast<uint16_t>(0));
    if (port == 0) return;
    if (j.value("open", false))
      open_port(address, port);
    else
      close_port(address, port);
  } else if (f.type == FrameType::StreamData) {
    auto it = streams_.find(stream_id(f.payload));
    if (it != streams_.end() && !send_all(it->second.fd.get(), f.payload.substr(4))) {
      // The client is gone: the app's side is closed too.
      send_all(channel_, encode_frame(FrameType::StreamClose, stream_payload(it->first)));
      streams_.erase(it);
    }
  } else if (f.type == FrameType::StreamClose) {
    streams_.erase(stream_id(f.payload));  // the app is done: the client sees the end
  }
}

void HostPorts::close_all() {
  while (!open_.empty()) {
    auto key = open_.begin()->first;
    close_port(key.first, key.second);
  }
  streams_.clear();
}

}  // namespace coracle::vm
