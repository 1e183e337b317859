#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"

namespace coracle::sandbox {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

bool is_unified() {
  return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
}

// The runner's own cgroup paths, by hierarchy key ("" for v2; "memory",
// "pids", "cpu", ... for v1), read once from /proc/self/cgroup.
std::map<std::string, std::string> own_cgroups() {
  std::map<std::string, std::string> paths;
  for (const auto& line : split(read_file("/proc/self/cgroup"), '\n')) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    for (const auto& c : split(line.substr(first + 1, second - first - 1), ','))
      paths[c] = line.substr(second + 1);
  }
  return paths;
}

// Where coracle's cgroups live in one v1 hierarchy: under the runner's own
// cgroup, so limits an administrator put on the caller still hold.
std::string v1_base(const std::map<std::string, std::string>& own, const std::string& controller) {
  auto it = own.find(controller);
  std::string path = it == own.end() || it->second == "/" ? "" : it->second;
  return std::string(kCgroupRoot) + "/" + controller + path;
}

std::string v2_base() {
  // A v2 cgroup with processes in it cannot have controllers enabled for its
  // children ("no internal processes"), so as root coracle uses its own
  // top-level "coracle" cgroup; a plain user needs a delegated subtree.
  if (geteuid() == 0) return std::string(kCgroupRoot) + "/coracle";
  std::string own = own_cgroups()[""];
  auto slash = own.rfind('/');
  return std::string(kCgroupRoot) + own.substr(0, slash);
}

// An absolute cgroup name ("/libpod_parent/libpod-ID", an OCI config's
// cgroupsPath) is a path from the hierarchy's root; any other is a name
// under coracle's base.
bool is_absolute_name(const std::string& name) {
  return !name.empty() && name[0] == '/';
}

// Makes the parents of root + path (an absolute name, checked) that are
// missing.
void make_parents(const std::string& root, const std::string& path) {
  std::string dir = root;
  auto parts = split(path.substr(1), '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    dir += "/" + parts[i];
    if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) throw_errno("cannot create cgroup " + dir);
  }
}

void enable_v2_controllers(const std::string& dir, const std::string& wanted) {
  try {
    write_file(dir + "/cgroup.subtree_control", wanted);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) +
                "; the limits need the memory, pids and cpu controllers delegated to " + dir);
  }
}

// A new v1 cpuset starts with no cpus and no mems, and takes no process
// so: every level from the hierarchy's root down to dir gets its parent's.
void fill_cpuset_levels(const std::string& root, const std::string& dir) {
  std::string parent = root;
  for (const auto& part : split(dir.substr(root.size()), '/')) {
    if (part.empty()) continue;
    std::string level = parent + "/" + part;
    for (const char* file : {"/cpuset.cpus", "/cpuset.mems"})
      if (trimmed(read_file(level + file)).empty())
        write_file(level + file, trimmed(read_file(parent + file)));
    parent = level;
  }
}

// cpu.shares' range (2..262144) onto cpu.weight's (1..10000), as runc and
// crun convert it.
uint64_t shares_to_weight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::string next_name() {
  static unsigned counter = 0;
  return "coracle-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

uint64_t read_counter(const std::string& file, const std::string& key) {
  try {
    for (const auto& line : split(read_file(file), '\n')) {
      if (line.rfind(key + " ", 0) == 0) return parse_uint(line.substr(key.size() + 1), key);
    }
  } catch (const Error&) {
  }
  return 0;
}

void remove_cgroup_dir(const std::string& dir) {
  // The pid namespace is gone when init is reaped, but the cgroup may still
  // count exiting tasks for a moment.
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::unique_ptr<Cgroup> Cgroup::create(const Limits& limits) {
  std::unique_ptr<Cgroup> cg(new Cgroup());
  std::string name = limits.cgroup_name.empty() ? next_name() : limits.cgroup_name;
  check_cgroup_name(name);
  if (is_unified()) {
    cg->v2_ = true;
    std::string base = v2_base();
    if (geteuid() == 0) {
      mkdir(base.c_str(), 0755);
      enable_v2_controllers(kCgroupRoot, "+memory +pids +cpu");
    }
    enable_v2_controllers(base, "+memory +pids +cpu");
    std::string dir = base + "/" + name;
    if (is_absolute_name(name)) {
      make_parents(kCgroupRoot, name);
      // Each level hands the controllers down (one with processes of its
      // own cannot; the limits then stay unset there, as the kernel says).
      std::string level = kCgroupRoot;
      for (const auto& part : split(name.substr(1, name.rfind('/')), '/')) {
        if (part.empty()) continue;
        level += "/" + part;
        try {
          enable_v2_controllers(level, "+memory +pids +cpu");
        } catch (const Error&) {
        }
      }
      dir = kCgroupRoot + name;
    }
    if (mkdir(dir.c_str(), 0755) < 0) throw_errno("cannot create cgroup " + dir);
    cg->dirs_.push_back(dir);
    cg->memory_dir_ = dir;
    if (limits.memory_bytes) {
      write_file(dir + "/memory.max", std::to_string(*limits.memory_bytes));
      if (access((dir + "/memory.swap.max").c_str(), F_OK) == 0)
        write_file(dir + "/memory.swap.max", "0");
    }
    if (limits.pids) write_file(dir + "/pids.max", std::to_string(*limits.pids));
    const Limits::CpuSettings& c = limits.cpu;
    if (limits.cpus) {
      auto quota = static_cast<uint64_t>(std::llround(*limits.cpus * 100000));
      write_file(dir + "/cpu.max", std::to_string(quota) + " 100000");
    }
    if (c.shares) write_file(dir + "/cpu.weight", std::to_string(shares_to_weight(*c.shares)));
    if (c.quota || c.period)
      write_file(dir + "/cpu.max", (c.quota && *c.quota > 0 ? std::to_string(*c.quota) : "max") +
                                       " " + std::to_string(c.period.value_or(100000)));
    if (!c.cpuset_cpus.empty() || !c.cpuset_mems.empty()) {
      enable_v2_controllers(dir.substr(0, dir.rfind('/')), "+cpuset");
      if (!c.cpuset_cpus.empty()) write_file(dir + "/cpuset.cpus", c.cpuset_cpus);
      if (!c.cpuset_mems.empty()) write_file(dir + "/cpuset.mems", c.cpuset_mems);
    }
    if (!limits.devices.empty()) {
      UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir_fd) throw_errno("cannot open cgroup " + dir);
      attach_device_program(dir_fd.get(), load_device_program(limits.devices).get());
    }
    cg->dir_fd_.reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cg->dir_fd_) throw_errno("cannot open cgroup " + dir);
    return cg;
  }

  auto own = own_cgroups();
  auto make = [&](const std::string& controller) {
    std::string base = v1_base(own, controller);
    if (is_absolute_name(name)) {
      base = std::string(kCgroupRoot) + "/" + controller;
      make_parents(base, name);
    }
    if (access(base.c_str(), W_OK) != 0)
      throw Error("cannot set a " + controller + " limit: " + base +
                  " is not writable (cgroup v1 limits need root)");
    std::string dir = is_absolute_name(name) ? base + name : base + "/" + name;
    if (mkdir(dir.c_str(), 0755) < 0) throw_errno("cannot create cgroup " + dir);
    cg->dirs_.push_back(dir);
    return dir;
  };
  // The memory hierarchy is always joined: it gives the OOM verdict and the
  // peak figure even when only --pids or --cpus was asked for.
  std::string mem = make("memory");
  cg->memory_dir_ = mem;
  if (limits.memory_bytes) {
    write_file(mem + "/memory.limit_in_bytes", std::to_string(*limits.memory_bytes));
    if (access((mem + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
      write_file(mem + "/memory.memsw.limit_in_bytes", std::to_string(*limits.memory_bytes));
  }
  if (limits.pids) write_file(make("pids") + "/pids.max", std::to_string(*limits.pids));
  const Limits::CpuSettings& c = limits.cpu;
  if (limits.cpus || c.shares || c.period || c.quota || c.realtime_period || c.realtime_runtime) {
    std::string cpu = make("cpu");
    if (limits.cpus) {
      write_file(cpu + "/cpu.cfs_period_us", "100000");
      write_file(cpu + "/cpu.cfs_quota_us",
                 std::to_string(static_cast<int64_t>(std::llround(*limits.cpus * 100000))));
    }
    if (c.shares) write_file(cpu + "/cpu.shares", std::to_string(*c.shares));
    if (c.period) write_file(cpu + "/cpu.cfs_period_us", std::to_string(*c.period));
    if (c.quota) write_file(cpu + "/cpu.cfs_quota_us", std::to_string(*c.quota));
    // The period before the runtime: the kernel checks one against the other.
    if (c.realtime_period)
      write_file(cpu + "/cpu.rt_period_us", std::to_string(*c.realtime_period));
    if (c.realtime_runtime)
      write_file(cpu + "/cpu.rt_runtime_us", std::to_string(*c.realtime_runtime));
  }
  if (limits.freezer) make("freezer");
  if (!c.cpuset_cpus.empty() || !c.cpuset_mems.empty()) {
    std::string cpuset = make("cpuset");
    fill_cpuset_levels(std::string(kCgroupRoot) + "/cpuset", cpuset);
    if (!c.cpuset_cpus.empty()) write_file(cpuset + "/cpuset.cpus", c.cpuset_cpus);
    if (!c.cpuset_mems.empty()) write_file(cpuset + "/cpuset.mems", c.cpuset_mems);
  }
  if (!limits.devices.empty()) {
    // Everything denied, then the rules allowed one by one.
    std::string devices = make("devices");
    write_file(devices + "/devices.deny", "a");
    for (const auto& rule : limits.devices)
      write_file(devices + "/devices.allow", v1_device_line(rule));
  }
  return cg;
}

void Cgroup::add_process(pid_t pid) const {
  if (v2_) return;
  for (const auto& dir : dirs_) write_file(dir + "/cgroup.procs", std::to_string(pid));
}

bool Cgroup::oom_killed() const {
  if (v2_) return read_counter(memory_dir_ + "/memory.events", "oom_kill") > 0;
  return read_counter(memory_dir_ + "/memory.oom_control", "oom_kill") > 0;
}

uint64_t Cgroup::peak_memory_bytes() const {
  std::string file = memory_dir_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes");
  try {
    std::string text = read_file(file);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return parse_uint(text, "memory peak");
  } catch (const Error&) {
    return 0;
  }
}

Cgroup::~Cgroup() {
  if (v2_ && !dirs_.empty()) {
    // Anything still in there (it should not be) dies before the rmdir.
    int fd = open((dirs_[0] + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!write(fd, "1", 1);
      close(fd);
    }
  }
  for (const auto& dir : dirs_) remove_cgroup_dir(dir);
}

namespace {

// The cgroup directories under every hierarchy coracle uses.
std::vector<std::string> cgroup_bases() {
  std::vector<std::string> bases;
  if (is_unified()) {
    bases.push_back(v2_base());
  } else {
    auto own = own_cgroups();
    // memory first: sweep_cgroups reads it alone.
    for (const char* c : {"memory", "pids", "cpu", "devices", "cpuset", "freezer"})
      bases.push_back(v1_base(own, c));
  }
  return bases;
}

// The directories of the named cgroup that exist, one per hierarchy.
std::vector<std::string> cgroup_dirs(const std::string& name) {
  std::vector<std::string> dirs;
  if (name.empty()) return dirs;
  check_cgroup_name(name);
  if (is_absolute_name(name)) {
    if (is_unified()) {
      dirs.push_back(kCgroupRoot + name);
    } else {
      for (const char* c : {"memory", "pids", "cpu", "devices", "cpuset", "freezer"})
        dirs.push_back(std::string(kCgroupRoot) + "/" + c + name);
    }
  } else {
    for (const auto& base : cgroup_bases()) dirs.push_back(base + "/" + name);
  }
  std::vector<std::string> existing;
  for (auto& d : dirs)
    if (is_directory(d)) existing.push_back(std::move(d));
  return existing;
}

// Kills what still runs in the cgroup at path, then removes it.
void kill_and_remove(const std::string& path) {
  int kill_fd = open((path + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  if (kill_fd >= 0) {
    (void)!write(kill_fd, "1", 1);
    close(kill_fd);
  } else {
    // v1 has no cgroup.kill: its processes are killed one by one.
    try {
      for (const auto& p : split(read_file(path + "/cgroup.procs"), '\n'))
        if (!p.empty()) kill(static_cast<pid_t>(parse_uint(p, "pid")), SIGKILL);
    } catch (const Error&) {
    }
  }
  remove_cgroup_dir(path);
}

}  // namespace

void sweep_cgroups() {
  // One directory read, on every command: v2 has one base; on v1 every
  // cgroup coracle makes has a memory directory (always joined), so that
  // hierarchy's base lists them all.
  std::vector<std::string> bases = cgroup_bases();
  if (bases.empty()) return;
  DIR* dir = opendir(bases[0].c_str());
  if (!dir) return;
  std::vector<std::string> dead;
  while (struct dirent* e = readdir(dir)) {
    int pid = 0, n = 0;
    if (sscanf(e->d_name, "coracle-%d-%d", &pid, &n) != 2) continue;
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
    dead.emplace_back(e->d_name);
  }
  closedir(dir);
  // What a dead runner left running dies here, in every hierarchy.
  for (const auto& name : dead)
    for (const auto& base : bases)
      if (is_directory(base + "/" + name)) kill_and_remove(base + "/" + name);
}

void check_cgroup_name(const std::string& name) {
  auto parts = split(is_absolute_name(name) ? name.substr(1) : name, '/');
  bool ok = !parts.empty();
  for (const auto& p : parts) ok &= !p.empty() && p != "." && p != "..";
  if (!ok)
    throw Error("cgroup path '" + name + "' must name a cgroup below the root, without . or ..");
}

std::vector<std::string> cgroup_procs_files(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& dir : cgroup_dirs(name)) out.push_back(dir + "/cgroup.procs");
  return out;
}

void destroy_cgroup(const std::string& name) {
  // A frozen cgroup's processes cannot die of SIGKILL until thawed.
  try {
    if (cgroup_frozen(name)) freeze_cgroup(name, false);
  } catch (const Error&) {
  }
  for (const auto& dir : cgroup_dirs(name)) kill_and_remove(dir);
}

namespace {

// The directory whose files freeze the cgroup, and the file and the value
// it reads when frozen: v2's cgroup.events says "frozen 1", v1's
// freezer.state "FROZEN".
struct FreezeFiles {
  std::string control, state;
  bool v2 = false;
};

FreezeFiles freeze_files(const std::string& name) {
  for (const auto& dir : cgroup_dirs(name)) {
    if (is_regular_file(dir + "/cgroup.freeze"))
      return {dir + "/cgroup.freeze", dir + "/cgroup.events", true};
    if (is_regular_file(dir + "/freezer.state"))
      return {dir + "/freezer.state", dir + "/freezer.state", false};
  }
  throw Error("the container's cgroup cannot be frozen here (no freezer)");
}

bool frozen_now(const FreezeFiles& f) {
  std::string text = read_file(f.state);
  return f.v2 ? text.find("frozen 1") != std::string::npos : trimmed(text) == "FROZEN";
}

}  // namespace

void freeze_cgroup(const std::string& name, bool frozen) {
  FreezeFiles f = freeze_files(name);
  write_file(f.control, f.v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED"));
  for (int i = 0; i < 400; ++i) {
    if (frozen_now(f) == frozen) return;
    // v1 may stay FREEZING while a task is busy: asking again moves it on.
    if (!f.v2 && frozen) write_file(f.control, "FROZEN");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw Error(std::string("the container's cgroup did not ") + (frozen ? "freeze" : "thaw") +
              " within two seconds");
}

bool cgroup_frozen(const std::string& name) {
  try {
    return frozen_now(freeze_files(name));
  } catch (const Error&) {
    return false;
  }
}

std::vector<pid_t> cgroup_pids(const std::string& name) {
  std::vector<pid_t> pids;
  auto dirs = cgroup_dirs(name);
  if (dirs.empty()) return pids;
  for (const auto& p : split(read_file(dirs[0] + "/cgroup.procs"), '\n'))
    if (!p.empty()) pids.push_back(static_cast<pid_t>(parse_uint(p, "pid")));
  return pids;
}

}  // namespace coracle::sandbox
