// The VMM, qemu's microvm machine today: its command line, made from what
// the run needs, and the process, tied to the runner's life. Nothing of
// the guest contract (docs/vm.md) depends on qemu: a VMM of coracle's own
// can take its place on hosts with KVM.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vm/guest_kernel.h"

namespace coracle::vm {

struct VmConfig {
  GuestKernel kernel;
  std::string initramfs;
  uint64_t memory_bytes = 512ULL << 20;
  unsigned cpus = 1;
  std::vector<std::string> disks;  // read-only images, /dev/vda, vdb, ... in order
  int channel_fd = -1;             // qemu's end of the agent's channel (inherited)
  bool kvm = false;                // hardware virtualization; else TCG emulation
  // Outbound network: qemu's end of a stream socket to passt (a virtio-net
  // device on it; inherited like channel_fd). Never qemu's own user-mode
  // networking, which gives the guest the host's 127.0.0.1 as 10.0.2.2.
  // -1: no network device.
  int net_fd = -1;
  // virtio-fs shares: (tag, virtiofsd's socket). With any, the guest's RAM
  // is a shared memfd (vhost-user maps it).
  std::vector<std::pair<std::string, std::string>> shares;
  std::string console_log;  // the guest kernel's console, to this file ("" none)
  // Or to this socket (inherited; the runner keeps only its last lines: a
  // guest can print without end, and a file would fill the host's disk).
  int console_fd = -1;
  unsigned tsc_khz = 0;  // TCG: the guest's TSC rate (0: from the host)
};

// KVM runs a guest here: a one-instruction guest ran (CORACLE_VM_ACCEL=kvm
// or tcg decides instead).
bool kvm_usable();

std::vector<std::string> qemu_argv(const VmConfig& config);

// qemu started with config's command line; SIGKILLed with the runner
// (PR_SET_PDEATHSIG) and by the destructor if still running.
class VmProcess {
 public:
  explicit VmProcess(const VmConfig& config, const std::string& qemu = "qemu-system-x86_64");
  ~VmProcess();
  VmProcess(const VmProcess&) = delete;
  VmProcess& operator=(const VmProcess&) = delete;
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Waits for qemu to end; its exit status.
  int wait();

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

}  // namespace coracle::vm
