#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <atomic>

#include "common/error.h"
#include "common/quiet_thread.h"
#include "portmon/forwarder.h"
#include "portmon/portmon.h"
#include "portmon/socket_calls.h"
#include "sandbox/socket_factory.h"

namespace coracle::portmon {

// Owned by the monitor's thread once it runs. The loop comes first so it
// outlives everything registered with it.
struct PortMonitor::Running {
  EventLoop loop;
  std::unique_ptr<Forwarder> forwarder;
  std::unique_ptr<PortTracker> tracker;
  std::atomic<bool> stop{false};
};

PortMonitor::PortMonitor(MonitorOptions options)
    : options_(std::move(options)), running_(std::make_unique<Running>()) {
  // With the host's network the app's ports are on the host already.
  if (options_.host_net) return;
  Forwarder::Options fo;
  fo.publish = options_.publish;
  fo.publish_all = options_.publish_all;
  running_->forwarder = std::make_unique<Forwarder>(fo);
  for (const auto& b : running_->forwarder->bindings()) {
    PortEvent e;
    e.port.proto = b->spec.proto;
    e.port.port = b->spec.port;
    e.host_address = b->host.address;
    e.host_port = b->host.port;
    e.note = b->moved_note();
    published_.push_back(e);
  }
}

PortMonitor::~PortMonitor() {
  stop();
}

void PortMonitor::prepare(sandbox::Spec& spec) {
  spec.notify_syscalls = watched_syscalls();
  spec.socket_factory = true;
}

std::vector<PortEvent> PortMonitor::published() const {
  return published_;
}

void PortMonitor::attach(sandbox::Started& started) {
  if (thread_.joinable()) throw Error("the port monitor is attached already");
  if (!started.sockets || !started.seccomp_listener)
    throw Error("the sandbox was not prepared for the port monitor (PortMonitor::prepare)");
  // Both netlink sockets are made by the sandbox's init, so they belong to
  // its network namespace (or the host's, with --net host) and work rootless.
  auto& factory = *started.sockets;
  UniqueFd diag_fd;
  try {
    diag_fd = factory.make_one(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
  } catch (const sandbox::SandboxEnded&) {
    // The app was quicker than us and its sandbox is gone: nothing to
    // watch. Its processes are being killed, so none waits on the listener.
    return;
  }
  SockDiag diag(std::move(diag_fd));
  std::optional<DestroyEvents> destroyed;
  try {
    destroyed.emplace(factory.make_one(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG));
  } catch (const sandbox::SandboxEnded&) {
    return;
  } catch (const Error& e) {
    // Closes are then found by the rescan alone, just later.
    warn(e.what());
  }
  PortTracker::Options to;
  to.init_pid = started.init_pid;
  to.host_net = options_.host_net;
  to.rescan_interval = options_.rescan_interval;
  running_->tracker = std::make_unique<PortTracker>(
      to, std::move(diag), SocketCalls(std::move(started.seccomp_listener)), std::move(destroyed),
      [this](PortEvent& e) { deliver(e); });
  if (running_->forwarder)
    running_->forwarder->start(running_->loop, started.sockets, &running_->tracker->open_ports());
  delivery_ = start_quiet_thread([this] { delivery_thread(); });
  thread_ = start_quiet_thread([this] { loop_thread(); });
}

void PortMonitor::deliver(PortEvent& event) {
  if (running_->forwarder) running_->forwarder->on_event(event);
  {
    std::lock_guard lock(mutex_);
    if (event.kind == PortEvent::Kind::kOpen) {
      open_[event.port.cookie] = event;
      if (event.port.proto == Proto::kTcp) tcp_seen_.insert(event.port.port);
    } else {
      open_.erase(event.port.cookie);
    }
  }
  if (options_.on_event) post([this, copy = event] { options_.on_event(copy); });
}

// The caller's callbacks run on a thread of their own: one that writes to
// a full pipe or a stopped terminal must not hold up the monitor, whose
// loop every bind() and listen() of the app waits for.
void PortMonitor::post(std::function<void()> call) {
  {
    std::lock_guard lock(outbox_mutex_);
    outbox_.push_back(std::move(call));
  }
  outbox_ready_.notify_one();
}

void PortMonitor::delivery_thread() {
  std::unique_lock lock(outbox_mutex_);
  for (;;) {
    outbox_ready_.wait(lock, [this] { return !outbox_.empty() || outbox_closed_; });
    if (outbox_.empty()) return;  // closed and drained
    std::function<void()> call = std::move(outbox_.front());
    outbox_.pop_front();
    lock.unlock();
    call();
    lock.lock();
  }
}

void PortMonitor::warn(const std::string& text) {
  if (options_.on_warning) post([this, text] { options_.on_warning(text); });
}

void PortMonitor::loop_thread() {
  // The checks after a bind()/listen() are tens of microseconds apart; the
  // default 50 µs timer slack would stretch each of them.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  Running& r = *running_;
  bool started = false;
  while (!r.stop) {
    // Faults in one step are reported and the loop goes on: as long as the
    // sandbox runs, its bind() and listen() calls wait for this thread.
    try {
      if (!started) {
        started = true;
        r.tracker->start(r.loop);
      }
      Clock::time_point deadline = r.tracker->next_deadline();
      if (r.forwarder) deadline = std::min(deadline, r.forwarder->next_deadline());
      r.loop.run_once(deadline);
      r.tracker->on_timer();
      if (r.forwarder) r.forwarder->tick();
    } catch (const Error& e) {
      warn(std::string("port monitor: ") + e.what());
    }
  }
}

void PortMonitor::stop() {
  if (!running_) return;
  if (thread_.joinable()) {
    running_->stop = true;
    running_->loop.wake();
    thread_.join();
  }
  // The sandbox is gone: whatever is still known is closed.
  if (running_->tracker) running_->tracker->close_all();
  running_.reset();
  // Every event is delivered before stop() returns.
  if (delivery_.joinable()) {
    {
      std::lock_guard lock(outbox_mutex_);
      outbox_closed_ = true;
    }
    outbox_ready_.notify_one();
    delivery_.join();
  }
}

std::vector<PortEvent> PortMonitor::open_ports() const {
  std::lock_guard lock(mutex_);
  std::vector<PortEvent> out;
  for (const auto& [cookie, e] : open_) out.push_back(e);
  return out;
}

std::set<uint16_t> PortMonitor::tcp_ports_seen() const {
  std::lock_guard lock(mutex_);
  return tcp_seen_;
}

}  // namespace coracle::portmon
