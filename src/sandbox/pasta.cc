#include "sandbox/pasta.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <mutex>
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

namespace {

// A helper beside coracle is run only if nobody else could have put it
// there: owned by root or the caller, not writable by group or others
// (symlinks followed: pasta is one to passt).
bool trusted_helper(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode) || access(path.c_str(), X_OK) < 0)
    return false;
  return (st.st_uid == 0 || st.st_uid == geteuid()) && (st.st_mode & 022) == 0;
}

#if defined(__x86_64__)
// AVX2 usable: the CPU has it and the kernel saves the YMM state (what
// passt's own __builtin_cpu_supports("avx2") means). Asked with cpuid here,
// when pasta is about to run: __builtin_cpu_supports links libgcc's
// constructor, whose cpuid instructions every coracle start would pay
// (each traps to the hypervisor in a VM: ~30 µs per start on this one).
bool cpu_has_avx2() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  constexpr unsigned kOsxsave = 1u << 27, kAvx = 1u << 28;
  if ((ecx & (kOsxsave | kAvx)) != (kOsxsave | kAvx)) return false;
  unsigned xcr0_low, xcr0_high;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & 0x6) != 0x6) return false;  // SSE and AVX state enabled
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx & (1u << 5);
}
#endif

// passt's AVX2 build, when this CPU has AVX2 and it is beside exe: passt
// would exec it itself (one more exec, ~1 ms here); the name it runs as
// (argv[0], pasta) stays.
std::string binary_for_this_cpu(const std::string& exe) {
#if defined(__x86_64__)
  char real[PATH_MAX];
  if (cpu_has_avx2() && realpath(exe.c_str(), real)) {
    std::string avx2 = std::string(real) + ".avx2";
    if (trusted_helper(avx2)) return avx2;
  }
#endif
  return exe;
}

}  // namespace

std::string pasta_path() {
  // coracle's own build of pasta (third_party/passt): beside the binary
  // in a build tree, PREFIX/libexec/coracle when installed.
  std::string dir = executable_dir();
  if (!dir.empty())
    for (const char* rel : {"/libexec/coracle/pasta", "/../libexec/coracle/pasta"})
      if (trusted_helper(dir + rel)) return clean_path(dir + rel);
  // Else a packaged one (Debian 12's loses TCP closes: third_party/passt).
  const char* path = getenv("PATH");
  std::vector<std::string> dirs = split(path ? path : "", ':');
  dirs.push_back("/usr/bin");
  for (const auto& d : dirs)
    if (!d.empty() && access((d + "/pasta").c_str(), X_OK) == 0) return d + "/pasta";
  return "";
}

bool pasta_forwards_dns(std::string_view host_resolv_conf) {
  bool any = false;
  for (const auto& line : split(std::string(host_resolv_conf), '\n')) {
    std::string t = trimmed(line);
    if (t.rfind("nameserver", 0) != 0 || t.size() <= 10 || (t[10] != ' ' && t[10] != '\t'))
      continue;
    any = true;
    std::string ip = trimmed(t.substr(11));
    struct in_addr v4;
    // pasta's own pick: the first line that parses as IPv4.
    if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return !any;
}

std::string host_resolv_conf() {
  try {
    return read_file("/etc/resolv.conf");
  } catch (const Error&) {
    return "";
  }
}

namespace {

// Killed pastas not reaped yet. Dying takes pasta tens of milliseconds (its
// tap device and namespace go away): waiting for that would add them to
// every run, so each is reaped later, by the next start or stop, and the
// rest by init when coracle exits.
std::mutex unreaped_mutex;
std::vector<pid_t> unreaped;

void reap_finished() {
  std::lock_guard lock(unreaped_mutex);
  for (auto it = unreaped.begin(); it != unreaped.end();)
    it = waitpid(*it, nullptr, WNOHANG) == 0 ? it + 1 : unreaped.erase(it);
}

}  // namespace

std::unique_ptr<Pasta> Pasta::start(pid_t pid) {
  reap_finished();
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
  // pasta runs in the foreground as our child, with a parent-death signal:
  // a daemonized pasta holds the namespace open and outlives a runner that
  // is killed (kill -9), forever. It writes its pid to its pid file once
  // the namespace is configured: the file is a FIFO of ours, so that moment
  // is an event, not a poll.
  char dir_template[] = "/tmp/coracle-pasta-XXXXXX";
  if (!mkdtemp(dir_template)) throw_errno("cannot create a directory for pasta's pid file");
  std::string dir = dir_template, fifo = dir + "/ready", log = dir + "/log";
  struct Cleanup {
    std::string dir, fifo, log;
    ~Cleanup() {
      unlink(fifo.c_str());
      unlink(log.c_str());
      rmdir(dir.c_str());
    }
  } cleanup{dir, fifo, log};
  if (mkfifo(fifo.c_str(), 0600) < 0) throw_errno("cannot make pasta's ready FIFO");
  // Opened before pasta runs, without waiting for a writer: pasta's open
  // then finds a reader and never blocks.
  UniqueFd ready(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  // pasta's messages go to a file (a pipe nobody reads could fill up and
  // stop it), read when it fails.
  UniqueFd err(open(log.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!ready || !err || !devnull) throw_errno("cannot prepare pasta's files");

  std::vector<std::string> args = {exe,    "--foreground", "--config-net", "--quiet", "--no-map-gw",
                                   "-t",   "none",         "-u",           "none",    "-T",
                                   "none", "-U",           "none",         "-P",      fifo};
  if (pasta_forwards_dns(host_resolv_conf()))
    args.insert(args.end(), {"--dns-forward", kPastaDnsForward});
  // As root, pasta would switch to nobody before it opens the sandbox's
  // namespaces, and nobody may not: it stays root, inside the sandbox's
  // user namespace, where root is an unprivileged host uid's.
  if (geteuid() == 0) args.insert(args.end(), {"--runas", "0"});
  args.push_back(std::to_string(pid));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string binary = binary_for_this_cpu(exe);

  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) throw_errno("cannot run " + exe);
  if (child == 0) {
    // Only async-signal-safe calls from here: the runner may have threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the runner died already
    // A process group of its own: the terminal's Ctrl-C is for the
    // command (coracle passes it on), not for pasta, whose death would
    // take the sandbox's network while the command handles the signal.
    setpgid(0, 0);
    // The runner blocks the signals it forwards while a sandbox runs;
    // pasta must not inherit that mask (or those signals' dispositions).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    dup2(devnull.get(), 0);
    dup2(devnull.get(), 1);
    dup2(err.get(), 2);
    execve(binary.c_str(), argv.data(), environ);
    _exit(127);
  }
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, child, 0)));
  if (!pidfd) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    throw_errno("cannot watch pasta (pid " + std::to_string(child) + ")");
  }
  std::unique_ptr<Pasta> running(new Pasta(std::move(pidfd), child));

  // Ready when its pid arrives; failed when it exits first.
  std::string said;
  bool up = false;
  for (int waited = 0; !up && waited < 20000;) {
    struct pollfd fds[2] = {{ready.get(), POLLIN, 0}, {running->pidfd_.get(), POLLIN, 0}};
    int n = poll(fds, 2, 100);
    if (n < 0 && errno != EINTR) throw_errno("cannot wait for pasta");
    if (n <= 0) {
      waited += 100;
      continue;
    }
    if (fds[0].revents & POLLIN) {
      char buf[32];
      ssize_t got = read(ready.get(), buf, sizeof buf);
      up = got > 0;
    }
    if (!up && (fds[1].revents & POLLIN)) break;  // pasta exited
  }
  if (!up) {
    std::string text = read_file(log);
    std::string why;  // without pasta's complaints that it has no syslog
    for (const auto& line : split(text, '\n'))
      if (!line.empty() && line.rfind("Failed to send", 0) != 0)
        why += (why.empty() ? "" : "; ") + line;
    throw Error("pasta could not set up the sandbox's network" + (why.empty() ? "" : ": " + why));
  }
  return running;
}

Pasta::~Pasta() {
  // pasta outlives the namespace if left alone: it keeps it open. It has
  // nothing to save.
  syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  {
    std::lock_guard lock(unreaped_mutex);
    unreaped.push_back(pid_);
  }
  reap_finished();
}

}  // namespace coracle::sandbox
