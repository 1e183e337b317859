#include "portmon/tcp_relay.h"

#include <fcntl.h>
#include <netinet/in.h>

#include <cerrno>

namespace coracle::portmon {
namespace {

// A pipe starts at the kernel's default capacity. A direction that turns
// out to carry bulk data gets a larger one (fewer splices and wake-ups per
// byte). Not every pipe is made large: pipe capacity counts against a
// per-user limit (fs.pipe-user-pages-soft, 64 MiB), which a rootless runner
// with many connections would reach; a refused resize keeps the default.
constexpr size_t kBulkPipeCapacity = 1024 * 1024;
constexpr uint64_t kBulkAfter = 4 << 20;

constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// close() with a zero linger time sends RST instead of FIN: the peer
// learns that its data was not delivered.
void reset_on_close(int fd) {
  struct linger lg {
    1, 0
  };
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

}  // namespace

TcpRelay::TcpRelay(EventLoop& loop, PipePool& pipes, UniqueFd client, UniqueFd upstream,
                   const sockaddr_storage& target, socklen_t target_len,
                   std::function<void()> on_done)
    : loop_(loop),
      pipes_(pipes),
      client_(std::move(client)),
      upstream_(std::move(upstream)),
      on_done_(std::move(on_done)) {
  int rc = connect(upstream_.get(), reinterpret_cast<const sockaddr*>(&target), target_len);
  if (rc < 0 && errno != EINPROGRESS) {
    fail();
    return;
  }
  // The client is not read until the app has accepted the connection.
  upstream_token_ =
      loop_.add(upstream_.get(), kSocketEvents, [this](uint32_t ev) { on_upstream(ev); });
  if (rc == 0) on_connected();
}

TcpRelay::~TcpRelay() {
  // Both sockets close with the relay and have no duplicates.
  if (client_token_) loop_.forget(client_token_);
  if (upstream_token_) loop_.forget(upstream_token_);
  for (Direction* d : {&to_app_, &to_client_})
    pipes_.give(std::move(d->pipe), d->buffered == 0 && !d->resize_tried);
}

void TcpRelay::on_upstream(uint32_t events) {
  if (done_) return;
  if (!connected_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(upstream_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail();  // nothing listens there (yet): the client is reset
      return;
    }
    on_connected();
    return;
  }
  pump_both();
}

void TcpRelay::on_connected() {
  connected_ = true;
  for (Direction* d : {&to_app_, &to_client_}) {
    d->pipe = pipes_.take();
    if (!d->pipe.read) {
      fail();
      return;
    }
  }
  to_app_.from = client_.get();
  to_app_.to = upstream_.get();
  to_client_.from = upstream_.get();
  to_client_.to = client_.get();
  client_token_ = loop_.add(client_.get(), kSocketEvents, [this](uint32_t) { pump_both(); });
  pump_both();
}

// Moves what can move without blocking. Edge-triggered: it goes on until
// neither reading nor writing makes progress, so no readiness is lost.
TcpRelay::Pumped TcpRelay::pump(Direction& d) {
  for (;;) {
    bool progress = false;
    if (d.buffered > 0) {
      ssize_t n = splice(d.pipe.read.get(), nullptr, d.to, nullptr, d.buffered,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.buffered -= static_cast<size_t>(n);
        d.total += static_cast<uint64_t>(n);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return Pumped::kFailed;  // EPIPE, ECONNRESET: the receiver is gone
      }
    }
    if (!d.resize_tried && d.total >= kBulkAfter) {
      d.resize_tried = true;
      int size = fcntl(d.pipe.write.get(), F_SETPIPE_SZ, static_cast<int>(kBulkPipeCapacity));
      if (size > 0) d.capacity = static_cast<size_t>(size);
    }
    if (!d.eof && d.buffered < d.capacity) {
      ssize_t n = splice(d.from, nullptr, d.pipe.write.get(), nullptr, d.capacity - d.buffered,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.buffered += static_cast<size_t>(n);
        progress = true;
      } else if (n == 0) {
        d.eof = true;
        progress = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        return Pumped::kFailed;
      }
    }
    if (!progress) break;
  }
  if (d.eof && d.buffered == 0 && !d.shut_down) {
    shutdown(d.to, SHUT_WR);
    d.shut_down = true;
  }
  return Pumped::kOk;
}

void TcpRelay::pump_both() {
  if (done_) return;
  if (pump(to_app_) == Pumped::kFailed || pump(to_client_) == Pumped::kFailed) {
    fail();
    return;
  }
  if (to_app_.shut_down && to_client_.shut_down) finish();
}

void TcpRelay::fail() {
  reset_on_close(client_.get());
  reset_on_close(upstream_.get());
  finish();
}

void TcpRelay::finish() {
  if (done_) return;
  done_ = true;
  on_done_();
}

}  // namespace coracle::portmon
