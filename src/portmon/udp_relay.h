// A forwarded UDP port: datagrams from each host client go out of a socket
// of their own inside the sandbox (connected to the app), so the app's
// replies come back to that socket and are sent to that client. A client
// quiet for kIdle is forgotten, as in docker-proxy and pasta.
#pragma once
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "portmon/event_loop.h"

namespace coracle::portmon {

class UdpRelay {
 public:
  using MakeSocket = std::function<UniqueFd(int family)>;             // a UDP socket in the sandbox
  using Target = std::function<bool(sockaddr_storage&, socklen_t&)>;  // the app's address now

  UdpRelay(EventLoop& loop, UniqueFd host, MakeSocket make_socket, Target target);
  ~UdpRelay();
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  // Forgets clients idle for too long.
  void expire(Clock::time_point now);

  static constexpr std::chrono::seconds kIdle{120};
  static constexpr size_t kMaxClients = 4096;
  static constexpr size_t kMaxDatagram = 65536;

 private:
  struct Session {
    UniqueFd upstream;
    EventLoop::Token token = 0;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    Clock::time_point last_active;
  };

  void on_host();
  void on_upstream(const std::string& key);
  Session* session_for(const sockaddr_storage& client, socklen_t len);
  void drop(const std::string& key);

  EventLoop& loop_;
  UniqueFd host_;
  EventLoop::Token host_token_ = 0;
  MakeSocket make_socket_;
  Target target_;
  std::map<std::string, Session> sessions_;  // by the client's address bytes
  std::vector<char> buffer_;                 // one datagram at a time
};

}  // namespace coracle::portmon
