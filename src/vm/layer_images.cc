#include "vm/layer_images.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/fs.h"
#include "common/userns.h"
#include "image/layer_cache.h"

extern char** environ;

namespace coracle::vm {
namespace {

void run_mkfs(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err) throw_errno("cannot run mkfs.erofs (Debian package erofs-utils)", err);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("mkfs.erofs failed for " + args.back());
}

}  // namespace

std::string ensure_layer_image(const std::string& cache_dir, const std::string& layer_dir) {
  std::string name = layer_dir.substr(layer_dir.rfind('/') + 1);
  std::string path = cache_dir + "/" + name + ".erofs";
  if (is_regular_file(path)) return path;
  mkdir_p(cache_dir, 0700);
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  std::vector<std::string> args = {"mkfs.erofs", "--quiet", "-T0"};
  const image::LayerOwnership& owners = image::layer_ownership();
  if (!owners.preserve) args.push_back("--all-root");
  args.push_back(tmp);
  args.push_back(layer_dir);
  try {
    if (owners.userns)
      run_as_mapped_root(*owners.userns, "make the erofs image of " + layer_dir,
                         [&] { run_mkfs(args); });
    else
      run_mkfs(args);
    if (rename(tmp.c_str(), path.c_str()) < 0) throw_errno("cannot keep " + path);
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
  return path;
}

std::vector<std::string> ensure_layer_images(const std::string& cache_dir,
                                             const std::vector<std::string>& layer_dirs) {
  std::vector<std::string> images;
  for (const auto& dir : layer_dirs) images.push_back(ensure_layer_image(cache_dir, dir));
  return images;
}

}  // namespace coracle::vm
