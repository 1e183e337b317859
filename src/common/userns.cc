#include "common/userns.h"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"

extern char** environ;

namespace coracle {

std::vector<IdRange> parse_subid(const std::string& text, const std::string& name, uid_t uid) {
  std::vector<IdRange> ranges;
  uint32_t next_inside = 1;
  for (const auto& line : split(text, '\n')) {
    auto fields = split(line, ':');
    if (fields.size() != 3 || line.empty() || line[0] == '#') continue;
    if (fields[0] != name && fields[0] != std::to_string(uid)) continue;
    try {
      auto start = static_cast<uint32_t>(parse_uint(fields[1], "subordinate id"));
      auto count = static_cast<uint32_t>(parse_uint(fields[2], "subordinate count"));
      if (count == 0) continue;
      ranges.push_back({next_inside, start, count});
      next_inside += count;
    } catch (const Error&) {
      continue;  // a malformed line is someone else's problem, not a reason to fail
    }
  }
  return ranges;
}

static std::string user_name(uid_t uid) {
  // Parsed by hand: NSS would pull in dlopen'ed modules on the exec path.
  try {
    for (const auto& line : split(read_file("/etc/passwd"), '\n')) {
      auto f = split(line, ':');
      if (f.size() > 2 && f[2] == std::to_string(uid)) return f[0];
    }
  } catch (const Error&) {
  }
  return std::to_string(uid);
}

static std::vector<IdRange> read_subid(const char* file, const std::string& name, uid_t id) {
  try {
    return parse_subid(read_file(file), name, id);
  } catch (const Error&) {
    return {};
  }
}

IdMapping host_id_mapping() {
  IdMapping m;
  m.uids = m.gids = {{0, 0, UINT32_MAX}};
  m.rootful = true;
  return m;
}

IdMapping plan_id_mapping() {
  IdMapping m;
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    m.rootful = true;
    auto subuid = read_subid("/etc/subuid", "root", 0);
    auto subgid = read_subid("/etc/subgid", "root", 0);
    // The root entry maps container 1.. by parse_subid's convention; rootful
    // maps container 0 into the range too, so shift it back by one.
    if (!subuid.empty() && !subgid.empty() && subuid[0].count >= kRootfulCount &&
        subgid[0].count >= kRootfulCount) {
      m.uids = {{0, subuid[0].outside, kRootfulCount}};
      m.gids = {{0, subgid[0].outside, kRootfulCount}};
    } else {
      m.uids = {{0, kRootfulBase, kRootfulCount}};
      m.gids = {{0, kRootfulBase, kRootfulCount}};
    }
    return m;
  }
  m.uids = {{0, uid, 1}};
  m.gids = {{0, gid, 1}};
  std::string name = user_name(uid);
  auto subuid = read_subid("/etc/subuid", name, uid);
  auto subgid = read_subid("/etc/subgid", name, uid);
  bool helpers = access("/usr/bin/newuidmap", X_OK) == 0 && access("/usr/bin/newgidmap", X_OK) == 0;
  if (helpers && !subuid.empty() && !subgid.empty()) {
    m.via_helpers = true;
    m.uids.insert(m.uids.end(), subuid.begin(), subuid.end());
    m.gids.insert(m.gids.end(), subgid.begin(), subgid.end());
  } else {
    // An unprivileged process may map only itself, and only after giving
    // up setgroups(2): otherwise dropping a group could grant access.
    m.setgroups_allowed = false;
  }
  return m;
}

bool maps_id(const std::vector<IdRange>& ranges, uint32_t id) {
  for (const auto& r : ranges)
    if (id >= r.inside && id - r.inside < r.count) return true;
  return false;
}

static void run_helper(const char* helper, pid_t pid, const std::vector<IdRange>& ranges) {
  std::vector<std::string> args = {helper, std::to_string(pid)};
  for (const auto& r : ranges) {
    args.push_back(std::to_string(r.inside));
    args.push_back(std::to_string(r.outside));
    args.push_back(std::to_string(r.count));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child;
  int err = posix_spawn(&child, helper, nullptr, nullptr, argv.data(), environ);
  if (err) throw_errno(std::string("cannot run ") + helper, err);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(std::string(helper) + " failed for pid " + std::to_string(pid) +
                "; check the subordinate ranges in /etc/subuid and /etc/subgid");
}

static std::string format_map(const std::vector<IdRange>& ranges) {
  std::string text;
  for (const auto& r : ranges)
    text += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " +
            std::to_string(r.count) + "\n";
  return text;
}

void write_id_mapping(pid_t pid, const IdMapping& m) {
  std::string proc = "/proc/" + std::to_string(pid);
  if (m.via_helpers) {
    run_helper("/usr/bin/newuidmap", pid, m.uids);
    run_helper("/usr/bin/newgidmap", pid, m.gids);
    return;
  }
  write_file(proc + "/uid_map", format_map(m.uids));
  if (!m.setgroups_allowed) write_file(proc + "/setgroups", "deny");
  write_file(proc + "/gid_map", format_map(m.gids));
}

void run_as_mapped_root(const IdMapping& ids, const std::string& what,
                        const std::function<void()>& fn) {
  int ready[2], go[2], report[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
    throw_errno("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), go_r(go[0]), go_w(go[1]);
  UniqueFd report_r(report[0]), report_w(report[1]);
  // What the child prints goes out once, not once more from its copy of a
  // buffer the parent had not flushed yet.
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    // The maps can only be written from outside (newuidmap is setuid root,
    // and a setuid binary does nothing for a process of an unmapped user
    // namespace): the parent writes them while the child waits.
    char c = 0;
    bool ok = unshare(CLONE_NEWUSER) == 0;
    if (write(ready_w.get(), &c, 1) != 1 || !ok) _exit(2);
    if (read(go_r.get(), &c, 1) != 1) _exit(2);
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) _exit(2);
    int status = 0;
    try {
      fn();
    } catch (const std::exception& e) {
      std::string message = e.what();
      (void)!write(report_w.get(), message.data(), message.size());
      status = 1;
    }
    fflush(nullptr);
    _exit(status);
  }
  ready_w.reset();
  go_r.reset();
  report_w.reset();
  char c;
  bool mapped = false;
  std::string map_error;
  if (read(ready_r.get(), &c, 1) == 1) {
    try {
      write_id_mapping(pid, ids);
      mapped = write(go_w.get(), &c, 1) == 1;
    } catch (const Error& e) {
      map_error = e.what();
    }
  }
  go_w.reset();  // an unmapped child reads end of file and gives up
  std::string message;
  char buf[4096];
  ssize_t n;
  while ((n = read(report_r.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) message.append(buf, static_cast<size_t>(n));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!message.empty()) throw Error(message);
  if (!mapped || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("cannot " + what + " in a user namespace mapped through /etc/subuid" +
                (map_error.empty() ? "" : ": " + map_error));
}

TreeRemoval::~TreeRemoval() {
  if (dir_.empty()) return;
  try {
    remove_mapped_tree(dir_);
  } catch (const std::exception&) {
    // Swept with the store's other leftovers.
  }
}

void remove_mapped_tree(const std::string& path) {
  try {
    remove_tree(path);
    return;
  } catch (const Error&) {
    if (geteuid() == 0) throw;
  }
  // Rootless: a sandbox's or a layer's files of its subordinate uids (a step's 0700
  // directory of uid 1000, say) are not the caller's to remove. A user
  // namespace with the sandbox's own mapping makes the caller their root.
  IdMapping ids = plan_id_mapping();
  if (!ids.via_helpers) throw Error("cannot remove " + path + " (files of other users in it)");
  try {
    run_as_mapped_root(ids, "remove " + path, [&] { remove_tree(path); });
  } catch (const Error& e) {
    throw Error("cannot remove " + path +
                " (even as root of the caller's mapped user namespace): " + e.what());
  }
}

}  // namespace coracle
