#include "cli/exec_vm.h"

#include <unistd.h>

#include <chrono>

#include "cli/events.h"
#include "common/error.h"
#include "portmon/port_events.h"
#include "portmon/publish.h"
#include "vm/vm_request.h"

namespace coracle::cli {

void print_port_event(const portmon::PortEvent& e) {
  if (events::on()) return events::emit(portmon::port_event_json(e));
  std::string line = portmon::port_event_line(e) + "\n";
  (void)!write(2, line.data(), line.size());
}

sandbox::Result run_exec_in_vm(const sandbox::Spec& spec, const ExecFlags& flags,
                               const GlobalOptions& global) {
  if (spec.net == sandbox::NetMode::Host)
    throw Error("--net host is not possible with --vm: a guest has its own network stack");
  vm::VmRunRequest r = vm::request_from_spec(spec, global.store_root());
  r.stdin_fd = flags.interactive ? spec.stdin_fd : -1;
  // -t: a pty in the guest; the user's terminal (-i) raw for the run.
  r.tty = spec.tty;
  // Which VMM runs it, for a program reading the events.
  if (events::on())
    r.on_start = [](const std::string& accel) {
      events::emit({{"event", "vm.start"}, {"accel", accel}});
    };
  if (flags.ports_wanted()) {
    vm::PortOptions ports;
    for (const auto& text : flags.publish) {
      ports.publish.push_back(portmon::parse_publish(text));
      if (ports.publish.back().proto != portmon::Proto::kTcp)
        throw Error("-p " + text + ": only TCP ports are forwarded from a micro-VM yet");
    }
    ports.publish_all = flags.publish_all;
    ports.on_event = [](const portmon::PortEvent& e) { print_port_event(e); };
    r.ports = std::move(ports);
  }
  r.kill_grace = spec.kill_grace;
  r.forward_signals = spec.forward_signals;
  auto start = std::chrono::steady_clock::now();
  vm::VmResult v = vm::run_in_vm(r);
  sandbox::Result result;
  result.exit_code = v.exit_code;
  result.term_signal = v.signal;
  result.timed_out = v.timed_out;
  result.message = v.message;
  result.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace coracle::cli
