// The device cgroup of a sandbox given --device: every device node is
// denied but the harmless ones /dev holds (null, zero, full, random,
// urandom, tty, the sandbox's ptys) and each --device with its own
// permissions (r, w, m). cgroup v1 takes the rules as lines in the devices
// hierarchy; cgroup v2 as a BPF program of type CGROUP_DEVICE attached to
// the sandbox's cgroup (made here, as crun and runc do, without libbpf).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::sandbox {

struct DeviceRule {
  char type = 'a';     // 'c' char, 'b' block, 'a' any
  long major = -1;     // -1: any
  long minor = -1;     // -1: any
  std::string access;  // some of "rwm"
};

// What every sandbox with a device cgroup may use: the nodes setup_dev
// binds, /dev/ptmx and the ptys of its devpts.
std::vector<DeviceRule> default_device_rules();
// The rule for the host node at path with access perms ("rwm" when empty).
// Throws coracle::Error when path is not a device node.
DeviceRule device_rule_for(const std::string& path, const std::string& perms);
// "c 1:3 rw", "b 7:* rwm": cgroup v1's devices.allow syntax.
std::string v1_device_line(const DeviceRule& rule);
// A loaded CGROUP_DEVICE program allowing exactly rules. Throws
// coracle::Error with the kernel's reason.
UniqueFd load_device_program(const std::vector<DeviceRule>& rules);
// Attaches program to the cgroup v2 directory cgroup_dir_fd (an O_RDONLY
// directory fd); other programs there (systemd's) still apply.
void attach_device_program(int cgroup_dir_fd, int program);

}  // namespace coracle::sandbox
