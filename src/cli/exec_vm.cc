#include "cli/exec_vm.h"

#include <unistd.h>

#include <chrono>

#include "common/error.h"
#include "portmon/port_events.h"
#include "portmon/publish.h"
#include "vm/vm_runner.h"

namespace coracle::cli {

sandbox::Result run_exec_in_vm(const sandbox::Spec& spec, const ExecFlags& flags,
                               const GlobalOptions& global, bool json) {
  // What the guest does not do yet is refused, never ignored.
  auto refuse = [](bool asked, const char* what) {
    if (asked) throw Error(std::string(what) + " is not supported with --vm yet");
  };
  refuse(spec.in_dir || spec.out_dir || !spec.volumes.empty(), "--in, --out and -v");
  refuse(!spec.devices.empty(), "--device");
  refuse(spec.tty, "-t");
  refuse(spec.read_only_rootfs, "--read-only");
  refuse(spec.net == sandbox::NetMode::Host || spec.net == sandbox::NetMode::Pasta,
         "a network other than the guest's own loopback (--net host, --net pasta)");
  refuse(spec.rootfs_is_private_copy, "the vfs storage driver");

  vm::VmRunRequest r;
  r.layer_dirs = spec.layers.empty() ? std::vector<std::string>{spec.rootfs} : spec.layers;
  r.cache_dir = global.store_root() + "/vm";
  r.guest.argv = spec.argv;
  r.guest.env = spec.env;
  r.guest.uid = spec.uid;
  r.guest.gid = spec.gid;
  r.guest.workdir = spec.workdir.empty() ? "/" : spec.workdir;
  r.guest.hostname = spec.hostname;
  for (const auto& g : spec.generated_files) r.guest.files.emplace_back(g.target, g.content);
  // --memory is the guest's RAM (its kernel and agent take ~40 MiB of it),
  // --cpus its vCPUs.
  if (spec.limits.memory_bytes) r.memory_bytes = *spec.limits.memory_bytes;
  if (spec.limits.cpus) r.cpus = static_cast<unsigned>(std::max(1.0, *spec.limits.cpus + 0.999));
  r.stdin_fd = flags.interactive ? spec.stdin_fd : -1;
  r.stdout_fd = spec.stdout_fd;
  r.stderr_fd = spec.stderr_fd;
  r.timeout = spec.timeout;
  if (flags.ports_wanted()) {
    vm::PortOptions ports;
    for (const auto& text : flags.publish) {
      ports.publish.push_back(portmon::parse_publish(text));
      if (ports.publish.back().proto != portmon::Proto::kTcp)
        throw Error("-p " + text + ": only TCP ports are forwarded from a micro-VM yet");
    }
    ports.publish_all = flags.publish_all;
    // As the namespace backend's monitor reports them: JSON lines on
    // stdout with --json, a line on stderr otherwise. One write per line.
    ports.on_event = [json](const portmon::PortEvent& e) {
      std::string line =
          (json ? portmon::port_event_json(e).dump() : portmon::port_event_line(e)) + "\n";
      (void)!write(json ? 1 : 2, line.data(), line.size());
    };
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
