#include "sandbox/pasta.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "sandbox/sandbox.h"

extern char** environ;

namespace coracle::sandbox {

NetMode parse_net_mode(std::string_view text) {
  if (text == "private") return NetMode::Private;
  if (text == "pasta") return NetMode::Pasta;
  if (text == "none") return NetMode::None;
  if (text == "host") return NetMode::Host;
  throw Error("unknown network '" + std::string(text) +
              "': use private (loopback only), pasta (outbound access), none or host");
}

std::string pasta_path() {
  const char* path = getenv("PATH");
  std::vector<std::string> dirs = split(path ? path : "", ':');
  dirs.push_back("/usr/bin");
  for (const auto& d : dirs)
    if (!d.empty() && access((d + "/pasta").c_str(), X_OK) == 0) return d + "/pasta";
  return "";
}

std::unique_ptr<Pasta> Pasta::start(pid_t pid) {
  std::string exe = pasta_path();
  if (exe.empty())
    throw Error(
        "this network needs pasta, which is not installed: apt-get install passt (or use --net "
        "private for loopback only)");
  // pasta makes its tap device from /dev/net/tun. Debian's mode is 0666; a
  // host without udev may leave it 0600, which stops a plain user.
  if (geteuid() != 0 && access("/dev/net/tun", R_OK | W_OK) < 0)
    throw Error(
        "pasta needs /dev/net/tun, which this user cannot open (Debian's default mode is 0666: "
        "as root, chmod 0666 /dev/net/tun), or use --net private for loopback only");
  // pasta daemonizes once the namespace is configured and says where the
  // daemon is in its pid file: a private directory of ours.
  char dir_template[] = "/tmp/coracle-pasta-XXXXXX";
  if (!mkdtemp(dir_template)) throw_errno("cannot create a directory for pasta's pid file");
  std::string dir = dir_template, pid_file = dir + "/pid";
  struct Cleanup {
    std::string dir, file;
    ~Cleanup() {
      unlink(file.c_str());
      rmdir(dir.c_str());
    }
  } cleanup{dir, pid_file};

  std::vector<std::string> args = {exe,
                                   "--config-net",
                                   "--quiet",
                                   "--no-map-gw",
                                   "-t",
                                   "none",
                                   "-u",
                                   "none",
                                   "-T",
                                   "none",
                                   "-U",
                                   "none",
                                   "-P",
                                   pid_file,
                                   "--dns-forward",
                                   kPastaDnsForward};
  // As root, pasta would switch to nobody before it opens the sandbox's
  // namespaces, and nobody may not: it stays root, inside the sandbox's
  // user namespace, where root is an unprivileged host uid's.
  if (geteuid() == 0) args.insert(args.end(), {"--runas", "0"});
  args.push_back(std::to_string(pid));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  // The runner blocks the signals it forwards while a sandbox runs; pasta
  // must not inherit that mask (or keep those signals' dispositions).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t child;
  int rc = posix_spawn(&child, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc) throw_errno("cannot run " + exe, rc);
  err_write.reset();
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // What pasta said, if anything (the daemon's stderr is /dev/null).
  fcntl(err_read.get(), F_SETFL, O_NONBLOCK);
  std::string said;
  char buf[1024];
  ssize_t n;
  while ((n = read(err_read.get(), buf, sizeof buf)) > 0) said.append(buf, static_cast<size_t>(n));
  std::string why;  // without pasta's complaints that it has no syslog
  for (const auto& line : split(said, '\n'))
    if (!line.empty() && line.rfind("Failed to send", 0) != 0)
      why += (why.empty() ? "" : "; ") + line;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("pasta could not set up the sandbox's network" + (why.empty() ? "" : ": " + why));
  pid_t daemon = 0;
  try {
    daemon = static_cast<pid_t>(parse_uint(split(read_file(pid_file), '\n')[0], "pasta's pid"));
  } catch (const Error&) {
    throw Error("pasta started but left no pid file");
  }
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, daemon, 0)));
  if (!pidfd) throw_errno("cannot watch pasta (pid " + std::to_string(daemon) + ")");
  return std::unique_ptr<Pasta>(new Pasta(std::move(pidfd)));
}

Pasta::~Pasta() {
  // pasta outlives the namespace if left alone: it keeps it open. It has
  // nothing to save, so nothing is waited for.
  syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

}  // namespace coracle::sandbox
