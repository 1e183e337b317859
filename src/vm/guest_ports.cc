#include "vm/guest_ports.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "vm/agent_run.h"

namespace coracle::vm {
namespace {

constexpr auto kRescan = std::chrono::milliseconds(250);

UniqueFd diag_socket() {
  return UniqueFd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
}

}  // namespace

GuestPorts::GuestPorts(int channel)
    : channel_(channel), next_scan_(std::chrono::steady_clock::now()) {
  try {
    destroyed_.emplace(diag_socket());
  } catch (const Error&) {
    // Without the broadcast the rescans alone find closed ports.
  }
}

void GuestPorts::add_pollfds(std::vector<pollfd>& fds) const {
  fds.push_back({destroyed_ ? destroyed_->fd() : -1, POLLIN, 0});
  for (const auto& [id, fd] : streams_) fds.push_back({fd.get(), POLLIN, 0});
}

int GuestPorts::timeout_ms() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  next_scan_ - std::chrono::steady_clock::now())
                  .count();
  return static_cast<int>(std::max<int64_t>(0, left));
}

void GuestPorts::rescan(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now < next_scan_) return;
  next_scan_ = now + kRescan;
  std::set<Listening> seen;
  try {
    for (const auto& p : diag_.open_ports())
      if (p.proto == portmon::Proto::kTcp) seen.insert({p.address, p.port});
  } catch (const Error&) {
    return;
  }
  auto send = [&](const Listening& l, bool open) {
    nlohmann::json j = {{"open", open}, {"proto", "tcp"}, {"address", l.address}, {"port", l.port}};
    send_all(channel_, encode_frame(FrameType::Port, j.dump()));
  };
  for (const auto& l : open_)
    if (!seen.count(l)) send(l, false);
  for (const auto& l : seen)
    if (!open_.count(l)) send(l, true);
  open_ = std::move(seen);
}

void GuestPorts::close_stream(uint32_t id, bool tell_host) {
  streams_.erase(id);
  if (tell_host) send_all(channel_, encode_frame(FrameType::StreamClose, stream_payload(id)));
}

void GuestPorts::on_poll(const std::vector<pollfd>& fds, size_t first) {
  if (fds[first].revents) {
    std::vector<uint64_t> cookies;
    destroyed_->read(cookies);
    rescan(true);
  }
  // The streams in the order add_pollfds listed them.
  std::vector<uint32_t> ended;
  size_t i = first + 1;
  char buf[65536];
  for (const auto& [id, fd] : streams_) {
    if (i >= fds.size()) break;
    if (fds[i++].revents) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n > 0)
        send_all(channel_,
                 encode_frame(FrameType::StreamData, stream_payload(id, std::string_view(buf, n))));
      else if (n == 0 || errno != EINTR)
        ended.push_back(id);
    }
  }
  for (uint32_t id : ended) close_stream(id, true);
}

void GuestPorts::on_frame(const Frame& f) {
  if (f.type == FrameType::Connect) {
    auto j = nlohmann::json::parse(f.payload, nullptr, false);
    if (!j.is_object()) return;
    uint32_t id = j.value("id", 0U);
    uint16_t port = j.value("port", static_cast<uint16_t>(0));
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || id == 0 || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      send_all(channel_, encode_frame(FrameType::StreamClose, stream_payload(id)));
      return;
    }
    streams_[id] = std::move(fd);
  } else if (f.type == FrameType::StreamData) {
    auto it = streams_.find(stream_id(f.payload));
    if (it != streams_.end() && !send_all(it->second.get(), f.payload.substr(4)))
      close_stream(it->first, true);
  } else if (f.type == FrameType::StreamClose) {
    auto it = streams_.find(stream_id(f.payload));
    // The host's side is done: no more bytes will come, the app may still
    // answer (a half-close).
    if (it != streams_.end()) shutdown(it->second.get(), SHUT_WR);
  }
}

}  // namespace coracle::vm
