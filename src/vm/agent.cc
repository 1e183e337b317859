#include "vm/agent.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "vm/agent_run.h"
#include "vm/protocol.h"

namespace coracle::vm {
namespace {

// The kernel's log, the one place an agent can complain before it has a
// channel to the host (the host shows it when the guest ends early).
void kmsg(const std::string& text) {
  int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::string line = "coracle-agent: " + text + "\n";
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

[[noreturn]] void power_off() {
  sync();
  reboot(RB_POWER_OFF);
  _exit(1);  // PID 1 exiting panics the guest: the host sees it end
}

void mount_or_log(const char* source, const char* target, const char* type) {
  mkdir(target, 0755);
  if (mount(source, target, type, MS_NOSUID | MS_NOEXEC, nullptr) < 0)
    kmsg(std::string("cannot mount ") + target + ": " + strerror(errno));
}

// A module that only some runs need: the network's (virtio_net and its
// failover), the shares' (fuse, virtiofs), the port watcher's (sock_diag).
// Loading one costs tens of milliseconds under emulation, so these wait
// for the Start frame, and load only when the run asks for them.
enum class ModuleGroup { Boot, Network, Shares, Ports };

ModuleGroup group_of(const std::string& file) {
  // "12-virtio_net.ko": the name after the order number.
  std::string name = file.substr(file.find('-') + 1);
  name = name.substr(0, name.rfind(".ko"));
  if (name == "virtio_net" || name == "net_failover" || name == "failover")
    return ModuleGroup::Network;
  if (name == "fuse" || name == "virtiofs") return ModuleGroup::Shares;
  if (name == "inet_diag" || name == "tcp_diag" || name == "udp_diag") return ModuleGroup::Ports;
  return ModuleGroup::Boot;
}

// The modules of the wanted groups, in the order the host wrote
// (dependencies first).
bool load_modules(const std::vector<ModuleGroup>& wanted) {
  std::string order;
  try {
    order = read_file("/modules/order");
  } catch (const std::exception& e) {
    kmsg(e.what());
    return false;
  }
  for (const auto& name : split(order, '\n')) {
    if (name.empty()) continue;
    if (std::find(wanted.begin(), wanted.end(), group_of(name)) == wanted.end()) continue;
    std::string path = "/modules/" + name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
      kmsg("cannot load " + name + ": " + strerror(errno));
      if (fd >= 0) close(fd);
      return false;
    }
    close(fd);
  }
  return true;
}

// The host's channel: the virtio-serial port the host named
// org.coracle.agent (its /dev node appears once virtio_console has probed
// the device, which can take a moment after the module loads).
int open_channel() {
  for (int attempt = 0; attempt < 500; ++attempt) {
    for (const auto& port : list_dir("/sys/class/virtio-ports")) {
      std::string name;
      try {
        name = read_file("/sys/class/virtio-ports/" + port + "/name");
      } catch (const std::exception&) {
        continue;
      }
      if (name != "org.coracle.agent\n") continue;
      int fd = open(("/dev/" + port).c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0) return fd;
    }
    usleep(2000);
  }
  return -1;
}

}  // namespace

bool is_guest_init(int argc, char** argv) {
  return getpid() == 1 && argc >= 1 && strcmp(argv[0], "/init") == 0;
}

void agent_main() {
  mount_or_log("devtmpfs", "/dev", "devtmpfs");
  mount_or_log("proc", "/proc", "proc");
  mount_or_log("sysfs", "/sys", "sysfs");
  if (!load_modules({ModuleGroup::Boot})) power_off();
  kmsg("modules loaded");
  int channel = open_channel();
  if (channel < 0) {
    kmsg("no channel to the host (a virtio-serial port named org.coracle.agent)");
    power_off();
  }
  if (!send_all(channel, encode_frame(FrameType::Ready, "1"))) power_off();
  // The host's Start frame: what to run.
  FrameReader reader;
  std::optional<Frame> start;
  char buf[65536];
  while (!start) {
    ssize_t n = read(channel, buf, sizeof buf);
    if (n <= 0) power_off();
    reader.feed(buf, static_cast<size_t>(n));
    try {
      start = reader.next();
    } catch (const std::exception& e) {
      kmsg(e.what());
      power_off();
    }
  }
  GuestSpec spec;
  std::string failure;
  try {
    if (start->type != FrameType::Start) throw Error("the host did not send Start first");
    spec = guest_spec_from_json(start->payload);
    std::vector<ModuleGroup> later;
    if (spec.network) later.push_back(ModuleGroup::Network);
    if (!spec.shares.empty()) later.push_back(ModuleGroup::Shares);
    if (spec.watch_ports) later.push_back(ModuleGroup::Ports);
    if (!later.empty() && !load_modules(later)) throw Error("cannot load the guest's modules");
    failure = prepare_guest_rootfs(spec);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    nlohmann::json j = {{"errno", 0}, {"what", failure}};
    send_all(channel, encode_frame(FrameType::Failed, j.dump()));
    power_off();
  }
  run_guest_command(spec, channel, reader);
  power_off();
}

}  // namespace coracle::vm
