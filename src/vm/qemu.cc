#include "vm/qemu.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "vm/helper_process.h"

namespace coracle::vm {
namespace {

unsigned host_tsc_khz() {
  try {
    for (const auto& line : split(read_file("/proc/cpuinfo"), '\n'))
      if (line.rfind("cpu MHz", 0) == 0)
        return static_cast<unsigned>(std::stod(line.substr(line.find(':') + 1)) * 1000);
  } catch (const std::exception&) {
  }
  return 2000000;
}

// Runs one HLT instruction in a real-mode guest: exit 0 when KVM ran it.
[[noreturn]] void kvm_smoke_test() {
  alarm(2);  // a KVM that hangs (as nested ones can) is no KVM
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0 || ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) _exit(1);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (vm < 0 || mem == MAP_FAILED) _exit(1);
  static_cast<unsigned char*>(mem)[0] = 0xf4;  // hlt
  struct kvm_userspace_memory_region region {};
  region.guest_phys_addr = 0x1000;
  region.memory_size = 4096;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) _exit(1);
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (vcpu < 0 || size <= 0) _exit(1);
  auto* run = static_cast<struct kvm_run*>(
      mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
  struct kvm_sregs sregs;
  struct kvm_regs regs {};
  if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) _exit(1);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  regs.rip = 0x1000;
  regs.rflags = 2;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) _exit(1);
  if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_HLT) _exit(1);
  // The CPU state a VMM gives a vCPU must be settable too: a nested KVM can
  // run the instruction above and still refuse a feature MSR that qemu
  // sets (IA32_ARCH_CAPABILITIES, as the host reports it).
  // struct kvm_msrs with one entry, laid out by hand: in C++,
  // <linux/kvm.h>'s flexible array changes its size and so the ioctl
  // numbers.
  struct {
    uint32_t nmsrs = 1, pad = 0;
    uint32_t index = 0x10a, reserved = 0;
    uint64_t data = 0;
  } one_msr, *msrs = &one_msr;
  constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
  constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);
  if (ioctl(kvm, kGetMsrs, msrs) == 1 && ioctl(vcpu, kSetMsrs, msrs) != 1) _exit(1);
  _exit(0);
}

}  // namespace

bool kvm_usable() {
  if (const char* accel = getenv("CORACLE_VM_ACCEL"); accel && *accel)
    return strcmp(accel, "kvm") == 0;
  if (access("/dev/kvm", R_OK | W_OK) != 0) return false;
  // A /dev/kvm that answers is not yet a KVM that runs guests (a nested
  // one may hang or refuse qemu's CPU state): one instruction is run to see.
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) kvm_smoke_test();
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::vector<std::string> qemu_argv(const VmConfig& c) {
  // The guest kernel: quiet, its console on the serial port when logged,
  // no reboot (the agent powers off; a panic ends the VM at once). Under
  // TCG the TSC rate is given: calibrating it can hang an emulated boot.
  std::string append = "panic=-1 quiet";
  bool console = !c.console_log.empty() || c.console_fd >= 0;
  append += console ? " console=ttyS0" : " console=none";
  if (!c.kvm) append += " tsc_early_khz=" + std::to_string(c.tsc_khz ? c.tsc_khz : host_tsc_khz());
  std::vector<std::string> a = {
      "qemu-system-x86_64",
      // microvm: virtio-mmio devices, found by the guest through ACPI.
      "-M",
      std::string("microvm,rtc=on,isa-serial=") + (console ? "on" : "off") +
          (c.shares.empty() ? "" : ",memory-backend=mem"),
      "-accel",
      c.kvm ? "kvm" : "tcg",
      "-cpu",
      c.kvm ? "host" : "max",
      "-m",
      std::to_string(std::max<uint64_t>(c.memory_bytes >> 20, 64)) + "M",
      "-smp",
      std::to_string(std::max(1u, c.cpus)),
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-no-reboot",
      "-kernel",
      c.kernel.image,
      "-initrd",
      c.initramfs,
      "-append",
      append,
      // Modern virtio-mmio: virtio-fs needs it.
      "-global",
      "virtio-mmio.force-legacy=false",
  };
  if (c.console_fd >= 0) {
    a.insert(a.end(), {"-chardev", "socket,id=console,fd=" + std::to_string(c.console_fd),
                       "-serial", "chardev:console"});
  } else if (!c.console_log.empty()) {
    a.insert(a.end(), {"-serial", "file:" + c.console_log});
  }
  for (size_t i = 0; i < c.disks.size(); ++i) {
    std::string id = "disk" + std::to_string(i);
    a.insert(a.end(),
             {"-drive",
              "id=" + id + ",file=" + c.disks[i] + ",format=raw,if=none,readonly=on,cache=unsafe",
              "-device", "virtio-blk-device,drive=" + id});
  }
  if (!c.shares.empty())
    a.insert(a.end(),
             {"-object", "memory-backend-memfd,id=mem,share=on,size=" +
                             std::to_string(std::max<uint64_t>(c.memory_bytes >> 20, 64)) + "M"});
  for (size_t i = 0; i < c.shares.size(); ++i) {
    std::string id = "fs" + std::to_string(i);
    a.insert(a.end(), {"-chardev", "socket,id=" + id + ",path=" + c.shares[i].second, "-device",
                       "vhost-user-fs-device,chardev=" + id + ",tag=" + c.shares[i].first});
  }
  if (c.net_fd >= 0)
    a.insert(
        a.end(),
        {"-netdev", "stream,id=net0,server=off,addr.type=fd,addr.str=" + std::to_string(c.net_fd),
         "-device", "virtio-net-device,netdev=net0"});
  if (c.channel_fd >= 0)
    a.insert(a.end(), {"-chardev", "socket,id=agent,fd=" + std::to_string(c.channel_fd), "-device",
                       "virtio-serial-device", "-device",
                       "virtserialport,chardev=agent,name=org.coracle.agent"});
  return a;
}

VmProcess::VmProcess(const VmConfig& config, const std::string& qemu) {
  HelperSpec helper;
  helper.argv = qemu_argv(config);
  helper.argv[0] = qemu;
  helper.inherit = {config.channel_fd, config.net_fd, config.console_fd};
  helper.package = "qemu-system-x86";
  pid_ = spawn_helper(helper);
  pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
}

int VmProcess::wait() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status;
}

VmProcess::~VmProcess() {
  if (!reaped_) end_helper(pid_);
}

}  // namespace coracle::vm
