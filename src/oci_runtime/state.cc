#include "oci_runtime/state.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/store_root.h"
#include "sandbox/sandbox.h"

namespace coracle::oci_runtime {

using nlohmann::json;

std::string default_state_root() {
  if (geteuid() == 0) return "/run/coracle-runc";
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return std::string(xdg) + "/coracle-runc";
  // No runtime directory (su, cron, some ssh sessions): never a folder in
  // the shared temp directory, where another user could make it first; the
  // caller's own store (~/.local/share/coracle) is theirs alone.
  return default_store_root() + "/runc-state";
}

namespace {

std::string octal_mode(mode_t mode) {
  char text[8];
  snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

}  // namespace

void check_state_root(const std::string& root) {
  struct stat st {};
  if (lstat(root.c_str(), &st) < 0) {
    if (errno == ENOENT) return;  // made 0711 by the first create
    throw_errno("cannot read the state root " + root);
  }
  // runc's rule and more: the state decides which hooks run and which
  // processes are signalled, so it must be the caller's alone.
  if (!S_ISDIR(st.st_mode)) throw Error("the state root " + root + " is not a directory");
  if (st.st_uid != geteuid())
    throw Error("the state root " + root + " belongs to uid " + std::to_string(st.st_uid) +
                ", not to the caller: refusing to use it (choose --root)");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    throw Error("the state root " + root + " can be written by others (mode " +
                octal_mode(st.st_mode) + "): refusing to use it (chmod go-w, or choose --root)");
  // Its parent could rename it away and put another in its place, unless
  // only root or the caller can write there, or the sticky bit forbids it.
  std::string parent = root.substr(0, root.find_last_of('/'));
  if (parent.empty()) parent = "/";
  struct stat up {};
  if (stat(parent.c_str(), &up) < 0) throw_errno("cannot read " + parent);
  bool others_write = up.st_mode & (S_IWGRP | S_IWOTH);
  if ((up.st_uid != 0 && up.st_uid != geteuid()) || (others_write && !(up.st_mode & S_ISVTX)))
    throw Error("the state root " + root + " is in " + parent +
                ", which others can change: refusing to use it (choose --root)");
}

void check_container_id(const std::string& id) {
  bool ok = !id.empty() && id != "." && id != ".." && id.size() <= 1024;
  for (char c : id)
    ok &= isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.';
  if (!ok) throw Error("invalid container id '" + id + "': use letters, digits, _ + - .");
}

uint64_t process_start_time(pid_t pid) {
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const Error&) {
    return 0;
  }
  // The command name may hold spaces and parentheses: fields count from
  // the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = split(stat.substr(close + 2), ' ');
  // After ')': state is field 3, so starttime (22) is index 19; a zombie
  // ('Z') has exited.
  if (fields.size() < 20 || fields[0] == "Z") return 0;
  return std::strtoull(fields[19].c_str(), nullptr, 10);
}

std::string status_of(const ContainerState& s) {
  if (s.pid <= 0 || process_start_time(s.pid) != s.pid_start_time) return "stopped";
  if (!s.started) return "created";
  return sandbox::cgroup_frozen(s.cgroup) ? "paused" : "running";
}

json state_json(const ContainerState& s) {
  std::string status = status_of(s);
  return {{"ociVersion", "1.0.2"}, {"id", s.id},         {"pid", status == "stopped" ? 0 : s.pid},
          {"status", status},      {"bundle", s.bundle}, {"rootfs", s.rootfs},
          {"created", s.created},  {"owner", ""},        {"annotations", s.annotations}};
}

StateStore::StateStore(std::string root) : root_(std::move(root)) {}

void StateStore::create(const ContainerState& s) const {
  check_container_id(s.id);
  mkdir_p(root_, 0711);  // a folder of someone else's there is refused next
  check_state_root(root_);
  if (mkdir(dir_of(s.id).c_str(), 0700) < 0) {
    if (errno == EEXIST) throw Error("container with id exists: " + s.id);
    throw_errno("cannot create the state of " + s.id);
  }
  save(s);
}

void StateStore::save(const ContainerState& s) const {
  json j = {{"id", s.id},
            {"bundle", s.bundle},
            {"rootfs", s.rootfs},
            {"pid", s.pid},
            {"pid_start_time", s.pid_start_time},
            {"started", s.started},
            {"created", s.created},
            {"owner", s.owner},
            {"cgroup", s.cgroup},
            {"annotations", s.annotations}};
  write_file_atomic(dir_of(s.id) + "/state.json", j.dump(), 0600);
}

ContainerState StateStore::load(const std::string& id) const {
  check_container_id(id);
  check_state_root(root_);
  return read_state(id);
}

bool StateStore::contains(const std::string& id) const {
  check_container_id(id);
  check_state_root(root_);
  return is_regular_file(dir_of(id) + "/state.json");
}

ContainerState StateStore::read_state(const std::string& id) const {
  std::string path = dir_of(id) + "/state.json";
  if (!is_regular_file(path)) throw Error("container " + id + " does not exist");
  json j = json::parse(read_file(path), nullptr, false);
  ContainerState s;
  try {
    s.id = j.at("id").get<std::string>();
    s.bundle = j.at("bundle").get<std::string>();
    s.rootfs = j.at("rootfs").get<std::string>();
    s.pid = j.at("pid").get<pid_t>();
    s.pid_start_time = j.at("pid_start_time").get<uint64_t>();
    s.started = j.at("started").get<bool>();
    s.created = j.at("created").get<std::string>();
    s.owner = j.at("owner").get<uint32_t>();
    s.cgroup = j.value("cgroup", std::string());
    s.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
  } catch (const json::exception&) {
    throw Error("the state of container " + id + " (" + path + ") is damaged");
  }
  if (s.id != id) throw Error("the state of container " + id + " names another container");
  return s;
}

std::vector<ContainerState> StateStore::list() const {
  std::vector<ContainerState> out;
  check_state_root(root_);
  if (!is_directory(root_)) return out;
  for (const auto& name : list_dir(root_)) {
    try {
      check_container_id(name);
      out.push_back(read_state(name));
    } catch (const Error&) {
      // Not a container's directory, or one being made: not listed.
    }
  }
  return out;
}

void StateStore::remove(const std::string& id) const {
  check_container_id(id);
  check_state_root(root_);
  remove_tree(dir_of(id));
}

}  // namespace coracle::oci_runtime
