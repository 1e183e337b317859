// Which ports a sandbox has open, kept up to date from three sources:
//  - bind()/listen() notifications (SocketCalls): the socket they name is
//    checked right after the call until it listens (TCP) or holds a port
//    (UDP), then looked up in sock_diag;
//  - the sock_diag destroy broadcast (DestroyEvents): a closed socket;
//  - a slow full rescan (sock_diag dump) that catches what the triggers
//    cannot see: sockets made through io_uring, a dropped broadcast, a
//    listener shut down without being closed.
// Every change becomes one PortEvent, in the order it was seen.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "portmon/event_loop.h"
#include "portmon/sock_diag.h"
#include "portmon/socket_calls.h"

namespace coracle::portmon {

struct PortEvent {
  enum class Kind { kOpen, kClose } kind = Kind::kOpen;
  OpenPort port;
  pid_t pid = 0;          // host pid of the process that opened it; 0: unknown
  pid_t sandbox_pid = 0;  // the same process as the sandbox sees it
  std::string process;    // its name (/proc/PID/comm)
  // Filled by the forwarder when the port is reachable from the host.
  std::string host_address;
  uint16_t host_port = 0;
  std::string note;  // e.g. why the host port differs, or why it is not forwarded
  // The same port number and protocol is open on the other family too
  // (an IPv4 and an IPv6 listener): lines name the family.
  bool both_families = false;
  std::chrono::system_clock::time_point time;  // when the monitor saw it
};

class PortTracker {
 public:
  struct Options {
    pid_t init_pid = 0;
    bool host_net = false;  // the host's namespace: count only the sandbox's sockets
    std::chrono::milliseconds rescan_interval{2000};
  };
  using Sink = std::function<void(PortEvent&)>;

  // calls and destroyed are optional: without them the rescan alone works.
  PortTracker(const Options& options, SockDiag diag, std::optional<SocketCalls> calls,
              std::optional<DestroyEvents> destroyed, Sink sink);

  // Registers with the loop and reads the ports already open.
  void start(EventLoop& loop);
  // When on_timer must run next.
  Clock::time_point next_deadline() const;
  void on_timer();
  // The sandbox has ended: every port still known is reported closed.
  void close_all();
  const std::map<uint64_t, PortEvent>& open_ports() const { return open_; }

 private:
  struct Pending {
    SocketCall call;
    Proto proto;
    int family;
    Clock::time_point answered, next_check;
  };

  void on_call();
  void on_destroyed();
  void rescan();
  void check_pending(bool all);
  bool call_done(const Pending& p) const;
  bool confirm(const Pending& p);
  void report_open(const OpenPort& port, pid_t pid);
  void report_close(uint64_t cookie);

  Options options_;
  SockDiag diag_;
  std::optional<SocketCalls> calls_;
  std::optional<DestroyEvents> destroyed_;
  Sink sink_;
  std::map<uint64_t, PortEvent> open_;  // by socket cookie
  std::deque<Pending> pending_;
  EventLoop::Token calls_token_ = 0;
  Clock::time_point next_rescan_;
};

}  // namespace coracle::portmon
