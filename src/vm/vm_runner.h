// The host's half of a run in a micro-VM: the guest's kernel, initramfs and
// erofs layers (cached), qemu, and the relay of the agent's frames to the
// caller's stdio, ending with the command's exit status.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vm/host_ports.h"
#include "vm/protocol.h"

namespace coracle::vm {

struct VmRunRequest {
  std::vector<std::string> layer_dirs;   // the rootfs, lowest first
  GuestSpec guest;                       // its layer count is set from layer_dirs
  std::string cache_dir;                 // ROOT/vm: initramfs and erofs images
  std::string agent = "/proc/self/exe";  // the static coracle binary the guest runs
  uint64_t memory_bytes = 512ULL << 20;
  unsigned cpus = 1;
  int stdin_fd = -1;  // relayed while open; -1: the command's stdin is empty
  // A pty for the command (guest.tty): stdin_fd, the user's terminal, is put
  // in raw mode for the run and its size follows SIGWINCH.
  bool tty = false;
  int stdout_fd = 1, stderr_fd = 2;
  // Or the output to a function (stream 1 or 2; an empty piece when the
  // stream has ended), instead of the fds.
  std::function<void(int stream, std::string_view data)> sink;
  std::chrono::milliseconds timeout{0};
  std::chrono::milliseconds kill_grace{2000};  // SIGTERM, then the VM ends
  // SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 of this process go to
  // the command while it runs.
  bool forward_signals = true;
  // Host directories in the guest (shares.h): /in, /out, -v.
  struct Share {
    std::string source, target;
    bool read_only = false;
  };
  std::vector<Share> shares;
  // Outbound access through passt (passt.h); else loopback only.
  bool network = false;
  // Told once the VMM is chosen: "kvm" or "tcg" (emulation).
  std::function<void(const std::string& accel)> on_start;
  // The command's TCP ports reported (and forwarded with -p/-P).
  std::optional<PortOptions> ports;
};

struct VmResult {
  int exit_code = 125;  // the command's, or 125/126/127 as for namespaces
  int signal = 0;
  bool timed_out = false;
  bool kvm = false;     // else TCG emulation
  std::string message;  // why coracle (not the command) failed
};

VmResult run_in_vm(const VmRunRequest& request);

}  // namespace coracle::vm
