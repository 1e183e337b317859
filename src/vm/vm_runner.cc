#include "vm/vm_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/terminal_text.h"
#include "common/userns.h"
#include "sandbox/supervise.h"
#include "vm/agent_run.h"
#include "vm/guest_kernel.h"
#include "vm/host_ports.h"
#include "vm/host_terminal.h"
#include "vm/layer_images.h"
#include "vm/passt.h"
#include "vm/qemu.h"
#include "vm/shares.h"

namespace coracle::vm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kConsoleKept = 2000;

// The guest's console as it may be printed: the guest's root can write
// there, so through the one sanitiser.
std::string printable_console(const std::string& kept) {
  return terminal_safe(kept);
}

}  // namespace

VmResult run_in_vm(const VmRunRequest& r) {
  // Every write of this loop (a forwarded port's client, the channel, the
  // user's stdout) fails with EPIPE rather than ending coracle with
  // SIGPIPE: a client that resets ends only its own connection.
  SigpipeBlocked quiet_pipes;
  VmResult result;
  VmConfig config;
  config.kernel = find_guest_kernel();
  config.initramfs = ensure_initramfs(r.cache_dir, config.kernel, r.agent);
  config.disks = ensure_layer_images(r.cache_dir + "/layers", r.layer_dirs);
  config.memory_bytes = r.memory_bytes;
  config.cpus = r.cpus;
  config.kvm = result.kvm = kvm_usable();
  if (r.on_start) r.on_start(config.kvm ? "kvm" : "tcg");
  std::string scratch = make_unique_dir(r.cache_dir, "run-");
  TreeRemoval remove_scratch(scratch);
  int console_pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, console_pair) < 0)
    throw_errno("socketpair");
  UniqueFd console(console_pair[0]), console_end(console_pair[1]);
  config.console_fd = console_end.get();
  std::string console_text;  // its last kConsoleKept bytes
  GuestSpec guest = r.guest;
  guest.layers = static_cast<unsigned>(r.layer_dirs.size());

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
  UniqueFd channel(pair[0]), guest_end(pair[1]);
  config.channel_fd = guest_end.get();
  std::vector<std::unique_ptr<VirtioFsShare>> shares;
  for (size_t i = 0; i < r.shares.size(); ++i) {
    std::string tag = "share" + std::to_string(i);
    shares.push_back(std::make_unique<VirtioFsShare>(r.shares[i].source, r.shares[i].read_only,
                                                     scratch + "/" + tag + ".sock"));
    config.shares.emplace_back(tag, shares.back()->socket_path());
    guest.shares.push_back({tag, r.shares[i].target, r.shares[i].read_only});
  }
  std::optional<Passt> passt;
  if (r.network) {
    passt.emplace();
    config.net_fd = passt->qemu_fd();
    guest.network = true;
  }
  VmProcess qemu(config);
  guest_end.reset();
  console_end.reset();
  if (passt) passt->release_qemu_fd();

  // Until the agent is up, a bound on the boot; then the run's own
  // timeout, which counts the command's time as for a sandbox.
  auto deadline = Clock::now() + std::chrono::seconds(120);
  // The signals a user sends coracle go to the command, as with namespaces
  // (the same set, blocked and read the same way); a second SIGINT or
  // SIGTERM ends the VM. With a pty: the user's terminal raw for the run,
  // its size the guest's (SIGWINCH).
  std::optional<HostTerminal> terminal;
  if (r.tty) {
    terminal.emplace(r.stdin_fd);
    guest.tty = true;
    unsigned rows = 0, cols = 0;
    if (sscanf(terminal->size().c_str(), "%u %u", &rows, &cols) == 2) {
      guest.rows = static_cast<uint16_t>(rows);
      guest.cols = static_cast<uint16_t>(cols);
    }
  }
  sandbox::SignalForwarding signals(r.forward_signals, r.tty);
  int interrupts = 0;
  std::optional<HostPorts> ports;
  if (r.ports) {
    ports.emplace(channel.get(), *r.ports);
    guest.watch_ports = true;
  }
  FrameReader reader;
  bool exited = false, started = false;
  int stdin_fd = r.stdin_fd;
  char buf[65536];
  // One frame of the guest's; the guest is not trusted: a malformed one
  // ends the run as coracle's failure.
  auto handle = [&](const Frame& f) {
    switch (f.type) {
      case FrameType::Ready:
        if (!send_all(channel.get(), encode_frame(FrameType::Start, to_json(guest))))
          throw Error("the micro-VM closed its channel");
        started = true;
        deadline = r.timeout.count() ? Clock::now() + r.timeout : Clock::time_point::max();
        if (stdin_fd < 0) send_all(channel.get(), encode_frame(FrameType::StdinEnd, ""));
        break;
      case FrameType::Port:
      case FrameType::StreamData:
      case FrameType::StreamClose:
        if (ports) ports->on_frame(f);
        break;
      case FrameType::Stdout:
      case FrameType::Stderr: {
        int stream = f.type == FrameType::Stdout ? 1 : 2;
        if (r.sink)
          r.sink(stream, f.payload);
        else
          write_all(stream == 1 ? r.stdout_fd : r.stderr_fd, f.payload.data(), f.payload.size(),
                    stream == 1 ? "stdout" : "stderr");
        break;
      }
      case FrameType::Exit: {
        auto j = nlohmann::json::parse(f.payload, nullptr, false);
        if (!j.is_object()) throw Error("the guest sent a malformed exit status");
        result.exit_code = j.value("exit_code", 125);
        result.signal = j.value("signal", 0);
        exited = true;
        break;
      }
      case FrameType::Failed: {
        auto j = nlohmann::json::parse(f.payload, nullptr, false);
        int e = j.is_object() ? j.value("errno", 0) : 0;
        std::string what = j.is_object() ? j.value("what", "") : "";
        result.exit_code = e == ENOENT || e == ENOTDIR ? 127 : e ? 126 : 125;
        result.message = e ? what + ": " + strerror(e) : "the guest agent: " + what;
        exited = true;
        break;
      }
      default:
        break;
    }
  };
  while (true) {
    std::vector<pollfd> fds = {{channel.get(), POLLIN, 0},
                               {qemu.pidfd(), POLLIN, 0},
                               // Input only once the guest has its Start frame.
                               {started ? stdin_fd : -1, POLLIN, 0},
                               {signals.fd(), POLLIN, 0},
                               {console.get(), POLLIN, 0}};
    if (ports) ports->add_pollfds(fds);
    constexpr size_t kPortsFirst = 5;
    int wait_ms = -1;
    if (deadline != Clock::time_point::max())
      wait_ms = static_cast<int>(std::max<int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    int n = poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && !started) {
      result.message = "the micro-VM did not start in 120 s\n" + printable_console(console_text);
      return result;
    }
    if (n == 0) {
      // The timeout, as for a sandbox: SIGTERM, then after the grace
      // period the whole VM goes (SIGKILL's 137).
      if (result.timed_out) {
        result.exit_code = 137;
        result.signal = SIGKILL;
        break;
      }
      result.timed_out = true;
      send_all(channel.get(), encode_frame(FrameType::Signal, std::to_string(SIGTERM)));
      deadline = Clock::now() + r.kill_grace;
      continue;
    }
    if (fds[0].revents) {
      ssize_t got = read(channel.get(), buf, sizeof buf);
      if (got <= 0) break;  // the VM is gone (powered off, or crashed)
      reader.feed(buf, static_cast<size_t>(got));
      try {
        while (auto f = reader.next()) handle(*f);
      } catch (const nlohmann::json::exception&) {
        throw Error("the micro-VM sent a malformed frame");
      }
    }
    if (fds[2].revents) {
      ssize_t got = read(stdin_fd, buf, sizeof buf);
      if (got > 0) {
        send_all(channel.get(), encode_frame(FrameType::Stdin, std::string_view(buf, got)));
      } else {
        send_all(channel.get(), encode_frame(FrameType::StdinEnd, ""));
        stdin_fd = -1;
      }
    }
    if (fds[3].revents) {
      struct signalfd_siginfo si;
      while (read(signals.fd(), &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          if (std::string size = terminal ? terminal->size() : ""; started && !size.empty())
            send_all(channel.get(), encode_frame(FrameType::Resize, size));
          continue;
        }
        bool ending = sig == SIGINT || sig == SIGTERM;
        if (!started || (ending && ++interrupts > 1)) {
          result.exit_code = 128 + SIGKILL;
          result.signal = SIGKILL;
          result.message = "the micro-VM was stopped by signal " + std::to_string(sig);
          return result;  // ~VmProcess ends qemu
        }
        send_all(channel.get(), encode_frame(FrameType::Signal, std::to_string(sig)));
      }
    }
    if (fds[4].revents) {
      ssize_t got = read(console.get(), buf, sizeof buf);
      if (got > 0) console_text.append(buf, static_cast<size_t>(got));
      if (got == 0) console.reset();  // qemu closed it
      if (console_text.size() > kConsoleKept)
        console_text.erase(0, console_text.size() - kConsoleKept);
    }
    if (ports) ports->on_poll(fds, kPortsFirst);
    if (fds[1].revents && !fds[0].revents) break;  // qemu ended, its output read
  }
  if (ports) ports->close_all();
  if (r.sink) {
    r.sink(1, {});
    r.sink(2, {});
  }
  if (result.timed_out)
    result.message = "killed: the timeout was reached";
  else if (!exited && started)
    // Stopped from outside once the agent was up (qemu killed, the guest
    // powered off): the kernel's boot lines would only mislead.
    result.message = "the micro-VM ended before the command did";
  else if (!exited)
    result.message =
        "the micro-VM ended before its agent started\n" + printable_console(console_text);
  if (!exited) log_debug("vm: the guest's console:\n" + console_text);
  return result;  // ~VmProcess ends qemu if the guest has not powered off
}

}  // namespace coracle::vm
