#include "portmon/udp_relay.h"

#include <cerrno>
#include <vector>

#include "common/error.h"

namespace coracle::portmon {
namespace {

std::string key_of(const sockaddr_storage& addr, socklen_t len) {
  return std::string(reinterpret_cast<const char*>(&addr), len);
}

}  // namespace

UdpRelay::UdpRelay(EventLoop& loop, UniqueFd host, MakeSocket make_socket, Target target)
    : loop_(loop),
      host_(std::move(host)),
      make_socket_(std::move(make_socket)),
      target_(std::move(target)),
      buffer_(kMaxDatagram) {
  host_token_ = loop_.add(host_.get(), EPOLLIN, [this](uint32_t) { on_host(); });
}

UdpRelay::~UdpRelay() {
  while (!sessions_.empty()) drop(sessions_.begin()->first);
  loop_.remove(host_token_, host_.get());
}

void UdpRelay::drop(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  loop_.remove(it->second.token, it->second.upstream.get());
  sessions_.erase(it);
}

UdpRelay::Session* UdpRelay::session_for(const sockaddr_storage& client, socklen_t len) {
  std::string key = key_of(client, len);
  if (auto it = sessions_.find(key); it != sessions_.end()) return &it->second;
  if (sessions_.size() >= kMaxClients) {
    // The least recently heard-from client makes room.
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (it->second.last_active < oldest->second.last_active) oldest = it;
    drop(oldest->first);
  }
  sockaddr_storage target;
  socklen_t target_len;
  if (!target_(target, target_len)) return nullptr;
  Session s;
  try {
    s.upstream = make_socket_(target.ss_family);
  } catch (const Error&) {
    return nullptr;  // the sandbox is ending: this datagram is lost, as UDP allows
  }
  if (connect(s.upstream.get(), reinterpret_cast<sockaddr*>(&target), target_len) < 0)
    return nullptr;
  s.client = client;
  s.client_len = len;
  s.token = loop_.add(s.upstream.get(), EPOLLIN, [this, key](uint32_t) { on_upstream(key); });
  return &sessions_.emplace(key, std::move(s)).first->second;
}

void UdpRelay::on_host() {
  for (;;) {
    sockaddr_storage client{};
    socklen_t len = sizeof client;
    ssize_t n = recvfrom(host_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                         reinterpret_cast<sockaddr*>(&client), &len);
    if (n < 0) return;  // EAGAIN, or an ICMP error queued for us: next time
    Session* s = session_for(client, len);
    if (!s) continue;
    s->last_active = Clock::now();
    send(s->upstream.get(), buffer_.data(), static_cast<size_t>(n), MSG_DONTWAIT);
  }
}

void UdpRelay::on_upstream(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  for (;;) {
    ssize_t n = recv(s.upstream.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0) {
      // ECONNREFUSED: nothing listens on the app's port (yet); the client
      // will retry or give up, as it would without us.
      return;
    }
    s.last_active = Clock::now();
    sendto(host_.get(), buffer_.data(), static_cast<size_t>(n), MSG_DONTWAIT,
           reinterpret_cast<sockaddr*>(&s.client), s.client_len);
  }
}

void UdpRelay::expire(Clock::time_point now) {
  std::vector<std::string> idle;
  for (const auto& [key, s] : sessions_)
    if (now - s.last_active > kIdle) idle.push_back(key);
  for (const auto& key : idle) drop(key);
}

}  // namespace coracle::portmon
