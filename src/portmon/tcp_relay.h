// One forwarded TCP connection: a client accepted on the host, and a socket
// made inside the sandbox's network namespace that connects to the app.
// Bytes move with splice() through a pipe per direction, so they are never
// copied into the runner. A half-close (shutdown(SHUT_WR)) on one side is
// passed on once everything before it has been delivered; a reset or error
// on one side resets the other.
#pragma once
#include <sys/socket.h>

#include <functional>

#include "common/unique_fd.h"
#include "portmon/event_loop.h"
#include "portmon/pipe_pool.h"

namespace coracle::portmon {

class TcpRelay {
 public:
  // Starts a non-blocking connect of upstream to target. on_done runs (on
  // the loop's thread) when both directions are finished or the
  // connection failed; the owner destroys the relay after that handler
  // returns, never inside it.
  TcpRelay(EventLoop& loop, PipePool& pipes, UniqueFd client, UniqueFd upstream,
           const sockaddr_storage& target, socklen_t target_len, std::function<void()> on_done);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

 private:
  struct Direction {
    int from = -1, to = -1;
    Pipe pipe;
    size_t buffered = 0;          // bytes in the pipe
    size_t capacity = 64 * 1024;  // the pipe's (the kernel's default at first)
    bool resize_tried = false;
    uint64_t total = 0;
    bool eof = false;        // `from` sent FIN
    bool shut_down = false;  // FIN passed on to `to`
  };
  enum class Pumped { kOk, kFailed };

  void on_upstream(uint32_t events);
  void on_connected();
  Pumped pump(Direction& d);
  void pump_both();
  void fail();
  void finish();

  EventLoop& loop_;
  PipePool& pipes_;
  UniqueFd client_, upstream_;
  EventLoop::Token client_token_ = 0, upstream_token_ = 0;
  bool connected_ = false, done_ = false;
  Direction to_app_, to_client_;
  std::function<void()> on_done_;
};

}  // namespace coracle::portmon
