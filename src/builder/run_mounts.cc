#include "builder/run_mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "common/userns.h"
#include "image/layer_unpack.h"

namespace coracle::builder {

std::vector<RunMount> parse_run_mounts(const Instruction& ins, const ShellWords& words,
                                       const ShellWords::Lookup& lookup, const std::string& where) {
  std::vector<RunMount> out;
  for (const auto& [key, value] : ins.flags) {
    if (key != "mount") continue;
    std::string text = words.expand(value, lookup);
    RunMount m;
    std::string type = "bind";  // BuildKit's default
    std::optional<bool> read_only;
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
        read_only = v.empty() || v == "true";
      } else if (k == "rw" || k == "readwrite") {
        read_only = !(v.empty() || v == "true");
      } else if (k == "from") {
        m.from = v;
      } else if (k == "source" || k == "src") {
        m.source = v;
      } else if (k == "mode") {
        char* end = nullptr;
        m.mode = static_cast<unsigned>(std::strtoul(v.c_str(), &end, 8));
        if (v.empty() || *end || *m.mode > 07777) throw bad("an octal mode");
      } else if (k == "uid" || k == "gid") {
        (k == "uid" ? m.uid : m.gid) = static_cast<uint32_t>(parse_uint(v, k));
      } else if (k == "size") {
        m.size = parse_bytes(v);
      } else if (k == "env") {
        if (v.empty() || v.find('=') != std::string::npos) throw bad("a variable's name");
        m.env = v;
      } else if (k == "required") {
        if (!v.empty() && v != "true" && v != "false") throw bad("true or false");
        m.required = v != "false";
      } else {
        throw bad("coracle build does not take this option");
      }
    }
    if (type == "cache") {
      m.type = RunMount::Type::kCache;
    } else if (type == "tmpfs") {
      m.type = RunMount::Type::kTmpfs;
    } else if (type == "bind") {
      m.type = RunMount::Type::kBind;
      if (m.source.empty()) m.source = std::string(".");  // (not a literal: g++ 12 -Wrestrict)
    } else if (type == "secret") {
      m.type = RunMount::Type::kSecret;
      // BuildKit's defaults: the id is the target's base name, the target
      // /run/secrets/ID unless the secret goes only to env=.
      if (m.id.empty() && !m.target.empty()) m.id = m.target.substr(m.target.rfind('/') + 1);
      if (m.id.empty()) throw Error(where + ": RUN --mount=type=secret needs id= or target=");
      if (m.target.empty() && m.env.empty()) m.target = "/run/secrets/" + m.id;
    } else {
      throw Error(where + ": RUN --mount=type=" + type +
                  " is not supported by coracle build (cache, tmpfs, secret and bind are)");
    }
    if (m.type != RunMount::Type::kSecret && !m.env.empty())
      throw Error(where + ": RUN --mount env= is for type=secret");
    if (m.type != RunMount::Type::kBind && (!m.from.empty() || !m.source.empty()))
      throw Error(where + ": RUN --mount from= and source= are for type=bind in coracle build");
    // A bind is read-only unless asked (BuildKit's default); the rest writable.
    m.read_only = read_only.value_or(m.type == RunMount::Type::kBind);
    if ((m.type != RunMount::Type::kSecret || !m.target.empty()) &&
        (m.target.empty() || m.target[0] != '/'))
      throw Error(where + ": RUN --mount needs an absolute target=");
    if (m.id.empty()) m.id = m.target;
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

CopyRequest bind_copy_request(const RunMount& m, const std::string& where) {
  CopyRequest req;
  req.sources = {m.source};
  req.dest = std::string("/");
  req.dest_is_dir = true;
  req.what = where;
  return req;
}

}  // namespace

std::string bind_source_digest(const CopyFrom& from, const RunMount& m, const std::string& where) {
  CopyRequest req = bind_copy_request(m, where);
  req.zero_mtimes = true;
  Sha256 content;
  image::TarWriter tar([&](const void* p, size_t n) { content.update(p, n); });
  LayeredFs nothing({});
  write_copy(req, from, nothing, tar);
  tar.finish();
  return content.digest();
}

void copy_bind_source(const CopyFrom& from, RunMount& m, const std::string& dir,
                      const std::string& where) {
  // COPY's own reader writes the tree (ignore rules, no escape from the
  // context, links resolved inside the tree) as a tar on disk; the layer
  // unpacker lays it out (nothing outside dir, never a device).
  std::string tar_path = dir + "/tree.tar", tree = dir + "/tree";
  mkdir_p(tree, 0755);
  {
    UniqueFd out(open(tar_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_errno(where + ": cannot make " + tar_path);
    image::TarWriter tar([&](const void* p, size_t n) {
      const char* c = static_cast<const char*>(p);
      while (n > 0) {
        ssize_t w = ::write(out.get(), c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) throw_errno(where + ": cannot write " + tar_path);
        c += w;
        n -= static_cast<size_t>(w);
      }
    });
    LayeredFs nothing({});
    write_copy(bind_copy_request(m, where), from, nothing, tar);
    tar.finish();
  }
  UniqueFd in(open(tar_path.c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd dest(open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!in || !dest) throw_errno(where + ": cannot open " + tar_path);
  image::UnpackOptions options;
  options.whiteouts = image::WhiteoutMode::Apply;
  options.preserve_owners = geteuid() == 0;
  image::unpack_layer(in.get(), dest.get(), options, where + ": RUN --mount=type=bind");
  unlink(tar_path.c_str());
  // A file is copied under its own name into the tree: that file is the mount.
  auto node = from.fs->lookup("/" + m.source, true);
  m.source_is_dir = !node || S_ISDIR(node->st.st_mode);
  std::string name = clean_path("/" + m.source);
  m.host_source = m.source_is_dir ? tree : tree + "/" + name.substr(name.rfind('/') + 1);
}

RunMounts::RunMounts(const image::Store& store, const std::vector<RunMount>& mounts,
                     const BuildSecrets& secrets, const std::string& where, sandbox::Spec& spec) {
  std::string base = store.root() + "/cache-mounts";
  for (const auto& m : mounts) {
    if (m.type == RunMount::Type::kSecret) {
      auto found = secrets.find(m.id);
      if (found == secrets.end()) {
        // BuildKit skips a secret nobody gave unless it is required.
        if (!m.required) continue;
        throw Error(where + ": RUN --mount=type=secret,id=" + m.id + ": no secret " + m.id +
                    " was given (coracle build --secret id=" + m.id + ",src=FILE)");
      }
      // Required once given: a target that cannot be made must fail the
      // RUN, not run it without its secret.
      if (!m.target.empty())
        spec.generated_files.push_back(
            {m.target, found->second, m.mode.value_or(0400), m.uid, m.gid, true});
      if (!m.env.empty()) set_env(spec.env, m.env + "=" + found->second);
      continue;
    }
    if (m.type == RunMount::Type::kBind) {
      (m.source_is_dir ? targets_ : file_targets_).push_back(m.target);
      spec.volumes.push_back({m.host_source, m.target, m.read_only});
      continue;
    }
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
      chmod(dir.c_str(), m.mode.value_or(0755));
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
