#include "builder/run_mounts.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/sha256.h"
#include "common/userns.h"

namespace coracle::builder {

std::vector<RunMount> parse_run_mounts(const Instruction& ins, const ShellWords& words,
                                       const ShellWords::Lookup& lookup, const std::string& where) {
  std::vector<RunMount> out;
  for (const auto& [key, value] : ins.flags) {
    if (key != "mount") continue;
    std::string text = words.expand(value, lookup);
    RunMount m;
    std::string type = "bind";  // BuildKit's default
    for (const auto& field : split(text, ',')) {
      auto eq = field.find('=');
      std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
      auto bad = [&](const std::string& why) {
        return Error(where + ": RUN --mount " + field + ": " + why);
      };
      if (k == "type") {
        type = v;
      } else if (k == "target" || k == "dst" || k == "destination") {
        m.target = v;
      } else if (k == "id") {
        m.id = v;
      } else if (k == "sharing") {
        if (v == "shared")
          m.sharing = RunMount::Sharing::kShared;
        else if (v == "private")
          m.sharing = RunMount::Sharing::kPrivate;
        else if (v == "locked")
          m.sharing = RunMount::Sharing::kLocked;
        else
          throw bad("use shared, private or locked");
      } else if (k == "readonly" || k == "ro") {
        m.read_only = v.empty() || v == "true";
      } else if (k == "rw") {
        m.read_only = !(v.empty() || v == "true");
      } else if (k == "mode") {
        char* end = nullptr;
        m.mode = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 8));
        if (v.empty() || *end || m.mode > 07777) throw bad("an octal mode");
      } else if (k == "uid" || k == "gid") {
        (k == "uid" ? m.uid : m.gid) = static_cast<uint32_t>(parse_uint(v, k));
      } else if (k == "size") {
        m.size = parse_bytes(v);
      } else {
        throw bad("coracle build does not take this option");
      }
    }
    if (type == "cache")
      m.type = RunMount::Type::kCache;
    else if (type == "tmpfs")
      m.type = RunMount::Type::kTmpfs;
    else
      throw Error(where + ": RUN --mount=type=" + type +
                  " is not supported by coracle build (type=cache and type=tmpfs are)");
    if (m.target.empty() || m.target[0] != '/')
      throw Error(where + ": RUN --mount needs an absolute target=");
    if (m.id.empty()) m.id = m.target;
    out.push_back(std::move(m));
  }
  return out;
}

RunMounts::RunMounts(const image::Store& store, const std::vector<RunMount>& mounts,
                     sandbox::Spec& spec) {
  std::string base = store.root() + "/cache-mounts";
  for (const auto& m : mounts) {
    targets_.push_back(m.target);
    if (m.type == RunMount::Type::kTmpfs) {
      sandbox::TmpfsMount t;
      t.target = m.target;
      t.size_bytes = m.size;
      t.mode = 01777;
      spec.tmpfs.push_back(t);
      continue;
    }
    mkdir_p(base, 0700);
    std::string dir = base + "/" + sha256_digest(m.id).substr(7, 32);
    bool fresh = !is_directory(dir);
    if (fresh) {
      mkdir_p(dir, 0755);
      // A new cache directory is the mount's mode and owner, as BuildKit
      // makes it (0755 root by default). As root the sandbox sees host
      // root's files as its own root's (idmapped binds).
      chmod(dir.c_str(), m.mode);
      if (geteuid() == 0 && chown(dir.c_str(), m.uid, m.gid) < 0)
        throw_errno("cannot hand the cache mount " + m.id + " to uid " + std::to_string(m.uid));
    }
    std::string source = dir;
    if (m.sharing == RunMount::Sharing::kLocked) {
      // One RUN at a time: a second build waits here.
      locks_.emplace_back(store.lock_path("cache-mount-" + dir.substr(dir.rfind('/') + 1)),
                          FileLock::Mode::Exclusive);
    } else if (m.sharing == RunMount::Sharing::kPrivate) {
      // Its own directory whenever another RUN holds the shared one.
      FileLock lock =
          FileLock::try_lock(store.lock_path("cache-mount-" + dir.substr(dir.rfind('/') + 1)),
                             FileLock::Mode::Exclusive);
      if (lock) {
        locks_.push_back(std::move(lock));
      } else {
        source = store.make_tmp_dir("cache-private");
        private_dirs_.emplace_back(source);
      }
    }
    spec.volumes.push_back({source, m.target, m.read_only});
  }
}

}  // namespace coracle::builder
