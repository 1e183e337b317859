// The port monitor: the public API of src/portmon.
//
// It watches a running sandbox for ports its processes open and close, and
// makes them reachable from the host. A port is seen the moment the app's
// bind()/listen() returns (a seccomp user notification stops the call for
// a few microseconds, then the socket is looked up with NETLINK_SOCK_DIAG),
// and its close through the kernel's sock_diag destroy broadcast; a slow
// rescan is the safety net. Nothing polls /proc/net/tcp.
//
//   PortMonitor monitor(options);           // binds the host side of -p
//   PortMonitor::prepare(spec);             // asks the sandbox for what it needs
//   hooks.on_start = [&](sandbox::Started& s) { monitor.attach(s); };
//   sandbox::run(spec, hooks);
//   monitor.stop();                         // what is still open is reported closed
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "portmon/port_tracker.h"
#include "portmon/publish.h"
#include "sandbox/sandbox.h"

namespace coracle::portmon {

struct MonitorOptions {
  std::vector<Publish> publish;  // -p
  bool publish_all = false;      // every TCP port the app opens, from 127.0.0.1
  bool host_net = false;         // the host's network: only the sandbox's own sockets
  std::chrono::milliseconds rescan_interval{2000};
  // Called in order on a delivery thread of the monitor (a slow callback
  // delays later events, never the app); every event has been delivered
  // when stop() returns.
  std::function<void(const PortEvent&)> on_event;
  // A fault the monitor survived (it keeps answering the app regardless);
  // on the same thread.
  std::function<void(const std::string&)> on_warning;
};

class PortMonitor {
 public:
  // Binds the host side of every -p (a taken port moves to the next free
  // one). Throws coracle::Error before anything has started.
  explicit PortMonitor(MonitorOptions options);
  ~PortMonitor();
  PortMonitor(const PortMonitor&) = delete;
  PortMonitor& operator=(const PortMonitor&) = delete;

  // What the sandbox must provide: bind()/listen() notifications and
  // sockets made inside its network namespace.
  static void prepare(sandbox::Spec& spec);

  // The -p forwards as bound on the host, one event each (kind kOpen, the
  // app's port in port.port, host_address/host_port, note).
  std::vector<PortEvent> published() const;

  // From Hooks::on_start: takes the listener and the socket factory and
  // starts the monitor's thread. Throws coracle::Error (the sandbox is then
  // killed by run()).
  void attach(sandbox::Started& started);

  // After sandbox::run() has returned: stops the thread and reports every
  // port still known as closed, so each open has its close.
  void stop();

  // Ports open now, each as its open event.
  std::vector<PortEvent> open_ports() const;
  // Every TCP port seen open during the run.
  std::set<uint16_t> tcp_ports_seen() const;

 private:
  struct Running;
  void deliver(PortEvent& event);
  void post(std::function<void()> call);
  void warn(const std::string& text);
  void loop_thread();
  void delivery_thread();

  MonitorOptions options_;
  std::unique_ptr<Running> running_;
  std::thread thread_, delivery_;
  std::mutex outbox_mutex_;
  std::condition_variable outbox_ready_;
  std::deque<std::function<void()>> outbox_;
  bool outbox_closed_ = false;
  mutable std::mutex mutex_;
  std::map<uint64_t, PortEvent> open_;  // a copy for other threads
  std::set<uint16_t> tcp_seen_;
  std::vector<PortEvent> published_;
  bool stopping_ = false;
};

}  // namespace coracle::portmon
