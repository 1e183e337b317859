// launch::run: a finished spec to its end on either backend (run.h).
#include "launch/run.h"

#include <signal.h>
#include <string.h>

#include <chrono>
#include <memory>

#include "common/error.h"
#include "portmon/portmon.h"
#include "vm/vm_request.h"
#include "vm/vm_runner.h"

namespace coracle::launch {
namespace {

bool forwards(const PortRequest& ports) {
  return ports.publish_all || !ports.publish.empty();
}

// What a sandbox's network allows of its ports, before anything starts (a
// guest always has its own loopback, which its agent forwards from).
void check_ports(const Request& r, Observer& observer) {
  if (!forwards(r.ports) || r.vm) return;
  if (r.spec.net == sandbox::NetMode::None)
    throw Error(
        "ports cannot be forwarded with --net none (the sandbox has no loopback); use "
        "--net private, or --watch-ports to only report them");
  if (r.spec.net == sandbox::NetMode::Host)
    observer.warning("-p/-P are not needed with --net host: the app's ports are the host's own");
}

// Linux namespaces: the port monitor attached at the command's start, the
// writable layer on disk for the run's length.
Outcome run_in_namespaces(Request& r, Observer& observer) {
  std::unique_ptr<portmon::PortMonitor> monitor;
  sandbox::Hooks hooks;
  if (r.ports.wanted()) {
    portmon::MonitorOptions options;
    options.publish = r.ports.publish;
    options.publish_all = r.ports.publish_all;
    options.host_net = r.spec.net == sandbox::NetMode::Host;
    options.rescan_interval = r.ports.rescan_interval;
    options.on_event = [&observer](const portmon::PortEvent& e) { observer.port(e); };
    options.on_warning = [&observer](const std::string& text) { observer.warning(text); };
    monitor = std::make_unique<portmon::PortMonitor>(options);
    for (const auto& p : monitor->published()) observer.published(p);
    portmon::PortMonitor::prepare(r.spec);
    hooks.on_start = [&monitor](sandbox::Started& started) { monitor->attach(started); };
  }
  Outcome out;
  out.writable_layer = put_writable_layer_on_disk(r.spec, r.store_root);
  if (r.capture_output)
    out.result = sandbox::run_streamed(
        r.spec, hooks, [&observer](int stream, std::string_view d) { observer.output(stream, d); },
        r.merge_output);
  else
    out.result = sandbox::run(r.spec, hooks);
  if (monitor) {
    monitor->stop();  // each port still open is reported closed
    out.tcp_ports_seen = monitor->tcp_ports_seen();
  }
  return out;
}

// The micro-VM: the same spec as a guest run (vm_request.h), its ports
// through the agent's channel.
Outcome run_in_micro_vm(Request& r, Observer& observer) {
  if (r.spec.net == sandbox::NetMode::Host)
    throw Error("--net host is not possible with --vm: a guest has its own network stack");
  vm::VmRunRequest v = vm::request_from_spec(r.spec, r.store_root);
  v.stdin_fd = r.vm_stdin ? r.spec.stdin_fd : -1;
  v.tty = r.spec.tty;  // a pty in the guest; the user's terminal raw for the run
  v.on_start = [&observer](const std::string& accel) { observer.vm_started(accel); };
  Outcome out;
  if (r.ports.wanted()) {
    vm::PortOptions ports;
    for (const auto& p : r.ports.publish) {
      if (p.proto != portmon::Proto::kTcp)
        throw Error("-p " + std::to_string(p.port) +
                    "/udp: only TCP ports are forwarded from a micro-VM yet");
      ports.publish.push_back(p);
    }
    ports.publish_all = r.ports.publish_all;
    ports.on_event = [&observer, &out](const portmon::PortEvent& e) {
      if (e.kind == portmon::PortEvent::Kind::kOpen && e.port.proto == portmon::Proto::kTcp)
        out.tcp_ports_seen.insert(e.port.port);
      observer.port(e);
    };
    v.ports = std::move(ports);
  }
  if (r.capture_output)
    v.sink = [&observer](int stream, std::string_view d) { observer.output(stream, d); };
  v.kill_grace = r.spec.kill_grace;
  v.forward_signals = r.spec.forward_signals;
  auto start = std::chrono::steady_clock::now();
  vm::VmResult result = vm::run_in_vm(v);
  out.result.exit_code = result.exit_code;
  out.result.term_signal = result.signal;
  out.result.timed_out = result.timed_out;
  out.result.message = result.message;
  out.result.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace

bool Outcome::failed_to_start() const {
  return result.exit_code == kExitInternal && !result.message.empty() && !result.timed_out &&
         !result.oom_killed;
}

Outcome run(Request request, Observer& observer) {
  check_ports(request, observer);
  return request.vm ? run_in_micro_vm(request, observer) : run_in_namespaces(request, observer);
}

std::string how_it_ended(const sandbox::Result& r, const std::string& timeout) {
  if (r.timed_out) return "stopped: " + timeout + " is over";
  if (!r.message.empty()) return r.message;
  if (r.term_signal) {
    const char* name = sigabbrev_np(r.term_signal);
    return "killed by signal " + std::to_string(r.term_signal) + " (SIG" + (name ? name : "?") +
           ")";
  }
  return "exited with status " + std::to_string(r.exit_code);
}

}  // namespace coracle::launch
