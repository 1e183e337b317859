#include "volume/volumes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/userns.h"

namespace coracle::volume {
namespace {

// The lock a run holds (shared) and rm/prune take (exclusive): a file
// beside the data, so that taking it never touches what the sandbox wrote.
std::string lock_path(const std::string& dir) {
  return dir + "/lock";
}

}  // namespace

bool is_volume_name(const std::string& text) {
  if (text.empty() || text.size() > 255 || text == "." || text == "..") return false;
  if (!std::isalnum(static_cast<unsigned char>(text[0]))) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

void check_volume_name(const std::string& name) {
  if (!is_volume_name(name))
    throw Error("invalid volume name '" + name +
                "': letters, digits, _ . - (starting with a letter or digit)");
}

VolumeStore::VolumeStore(std::string store_root) : root_(std::move(store_root) + "/volumes") {}

VolumeInfo VolumeStore::info_of(const std::string& name) const {
  VolumeInfo v;
  v.name = name;
  v.mountpoint = dir_of(name) + "/_data";
  try {
    auto j = nlohmann::json::parse(read_file(dir_of(name) + "/volume.json"), nullptr, false);
    if (j.is_object()) v.created = j.value("created", int64_t{0});
  } catch (const Error&) {
  }
  UniqueFd fd(open(lock_path(dir_of(name)).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  v.in_use = fd && !FileLock::try_on_fd(std::move(fd), FileLock::Mode::Exclusive);
  return v;
}

VolumeInfo VolumeStore::create(const std::string& name, bool exist_ok) const {
  check_volume_name(name);
  mkdir_p(root_, 0700);
  std::string dir = dir_of(name);
  if (mkdir(dir.c_str(), 0700) < 0) {
    if (errno != EEXIST) throw_errno("cannot create volume " + name);
    if (!exist_ok) throw Error("volume " + name + " exists already");
    // Being made by another run at this moment: its data dir comes last.
    for (int i = 0; i < 200 && !is_directory(dir + "/_data"); ++i) usleep(5000);
    if (!is_directory(dir + "/_data")) throw Error("volume " + name + " is broken: no _data");
    return info_of(name);
  }
  write_file_atomic(
      dir + "/volume.json",
      nlohmann::json({{"name", name}, {"created", static_cast<int64_t>(time(nullptr))}}).dump(),
      0600);
  write_file_atomic(lock_path(dir), "", 0600);
  // Last: a volume with its _data is whole. 0755, as podman makes it; the
  // runner hands it to the sandbox's root (sandbox_owned).
  if (mkdir((dir + "/_data").c_str(), 0755) < 0) throw_errno("cannot create volume " + name);
  return info_of(name);
}

std::optional<VolumeInfo> VolumeStore::find(const std::string& name) const {
  check_volume_name(name);
  if (!is_directory(dir_of(name) + "/_data")) return std::nullopt;
  return info_of(name);
}

std::vector<VolumeInfo> VolumeStore::list() const {
  std::vector<std::string> names;
  if (DIR* d = opendir(root_.c_str())) {
    while (auto* e = readdir(d))
      if (is_volume_name(e->d_name) && is_directory(dir_of(e->d_name) + "/_data"))
        names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<VolumeInfo> out;
  for (const auto& n : names) out.push_back(info_of(n));
  return out;
}

void VolumeStore::remove(const std::string& name) const {
  check_volume_name(name);
  std::string dir = dir_of(name);
  if (!is_directory(dir)) throw Error("there is no volume " + name);
  UniqueFd fd(open(lock_path(dir).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  FileLock held = fd ? FileLock::try_on_fd(std::move(fd), FileLock::Mode::Exclusive) : FileLock();
  if (!held && path_exists(lock_path(dir)))
    throw Error("volume " + name + " is in use by a run; remove it once that has ended");
  // Its files belong to the sandbox's ids (a plain user's subordinate
  // ones too): removed with that mapping where the caller needs it.
  remove_mapped_tree(dir);
}

std::vector<std::string> VolumeStore::prune() const {
  std::vector<std::string> removed;
  for (const auto& v : list()) {
    if (v.in_use) continue;
    try {
      remove(v.name);
      removed.push_back(v.name);
    } catch (const Error&) {
      // Taken by a run meanwhile: kept.
    }
  }
  return removed;
}

VolumeStore::Lease VolumeStore::use(const std::string& name) const {
  Lease lease;
  lease.info = create(name, true);
  lease.lock = FileLock(lock_path(dir_of(name)), FileLock::Mode::Shared);
  // Removed between its making and the lock: made again.
  if (!is_directory(lease.info.mountpoint)) return use(name);
  return lease;
}

sandbox::BindMount volume_bind(const VolumeStore::Lease& lease, const std::string& target,
                               bool read_only) {
  sandbox::BindMount b;
  b.source = lease.info.mountpoint;
  b.target = target;
  b.read_only = read_only;
  b.sandbox_owned = true;
  return b;
}

}  // namespace coracle::volume
