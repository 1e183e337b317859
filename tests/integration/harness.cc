#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/parse.h"

extern char** environ;

namespace coracle::test {

const char* probe() {
  return CORACLE_PROBE;
}

const char* port_probe() {
  return CORACLE_PORT_PROBE;
}

std::string store_root() {
  static TempDir* root = new TempDir();  // lives for the whole test process
  return root->path();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/coracle-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw_errno("mkdtemp");
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  try {
    remove_tree(path_);
  } catch (...) {
  }
}

static std::vector<std::string> build_env(const RunOptions& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    if (entry.rfind("CORACLE_ROOT=", 0) == 0 || entry.rfind("HOME=", 0) == 0) continue;
    // A variable the options set replaces the inherited one.
    std::string name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& e : o.env) replaced |= e.rfind(name, 0) == 0;
    if (!replaced) env.push_back(entry);
  }
  if (!o.uid) env.push_back("CORACLE_ROOT=" + store_root());
  if (!o.home.empty()) env.push_back("HOME=" + o.home);
  for (const auto& e : o.env) env.push_back(e);
  return env;
}

static pid_t spawn(const std::vector<std::string>& args, int in_r, int out_w, int err_w,
                   const RunOptions& o) {
  std::vector<std::string> argv_s = {CORACLE_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto env_s = build_env(o);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int in = in_r >= 0 ? in_r : open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out_w, 1);
    dup2(err_w, 2);
    if (o.uid) {
      gid_t gid = o.gid.value_or(*o.uid);
      if (setgroups(0, nullptr) < 0 || setresgid(gid, gid, gid) < 0 ||
          setresuid(*o.uid, *o.uid, *o.uid) < 0)
        _exit(99);
      if (!o.home.empty() && chdir(o.home.c_str()) < 0) _exit(98);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(97);
  }
  return pid;
}

int wait_coracle(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

RunResult coracle(const std::vector<std::string>& args, const RunOptions& options) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
  pid_t pid = spawn(args, -1, out[1], err[1], options);
  close(out[1]);
  close(err[1]);
  RunResult r;
  drain_two(out[0], err[0], r.out, r.err);
  close(out[0]);
  close(err[0]);
  r.exit_code = wait_coracle(pid);
  return r;
}

pid_t spawn_coracle(const std::vector<std::string>& args, int* out_fd, const RunOptions& options) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
  pid_t pid = spawn(args, -1, out[1], 2, options);
  close(out[1]);
  *out_fd = out[0];
  return pid;
}

pid_t spawn_coracle(const std::vector<std::string>& args, int* in_fd, int* out_fd,
                    const RunOptions& options) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
  pid_t pid = spawn(args, in[0], out[1], 2, options);
  close(in[0]);
  close(out[1]);
  *in_fd = in[1];
  *out_fd = out[0];
  return pid;
}

std::string read_until(int fd, const std::string& text, int max_wait_ms) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms);
  char buf[4096];
  while (got.find(text) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& line : split(text, '\n'))
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  return found;
}

std::string log_output(const std::string& events, const std::string& stream) {
  std::string out;
  for (const auto& line : split(events, '\n')) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "log" && j.value("stream", "") == stream)
      out += j.value("line", "") + "\n";
  }
  return out;
}

std::string status_field(const std::string& status, const std::string& field) {
  for (const auto& line : split(status, '\n')) {
    if (line.rfind(field + ":", 0) != 0) continue;
    auto v = line.substr(field.size() + 1);
    auto start = v.find_first_not_of(" \t");
    return start == std::string::npos ? "" : v.substr(start);
  }
  return "";
}

namespace {

// Entries of dir other than . and .. and those whose name starts with
// skip_prefix (when given); -1 if it cannot be read.
int count_entries_but(const std::string& dir, const char* skip_prefix) {
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (auto* e = readdir(d))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
         !(skip_prefix && strncmp(e->d_name, skip_prefix, strlen(skip_prefix)) == 0);
  closedir(d);
  return n;
}

}  // namespace

void read_to_end(int fd, std::string& out) {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<size_t>(n));
}

int count_entries(const std::string& dir) {
  return count_entries_but(dir, nullptr);
}

int count_entries_settled(const std::string& dir) {
  // A store's spares (emptied layer dirs kept for the next run while its
  // reaper lives) are no run's leftovers.
  int n = count_entries_but(dir, "spare-");
  for (int i = 0; i < 100 && n > 0; ++i) {
    usleep(50000);
    n = count_entries_but(dir, "spare-");
  }
  return n;
}

std::string run_sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(("(" + cmd + ") 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ADD_FAILURE() << cmd << " failed: " << out;
  return out;
}

void make_layout(const std::string& dir, const nlohmann::json& spec) {
  // Single-quoted for the shell: a quote inside ends, escapes and reopens.
  auto quoted = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  run_sh(std::string("python3 ") + CORACLE_FIXTURES + "/make_layout.py " + quoted(dir) + " " +
         quoted(spec.dump()));
}

nlohmann::json busybox_layer() {
  using nlohmann::json;
  json l = json::array();
  l.push_back({{"name", "bin"}, {"type", "dir"}});
  l.push_back({{"name", "bin/busybox"}, {"source", "/bin/busybox"}, {"mode", 0755}});
  for (const char* applet : {"sh", "ls", "cat", "id", "echo", "pwd", "stat", "test", "sleep"})
    l.push_back(
        {{"name", std::string("bin/") + applet}, {"type", "symlink"}, {"target", "busybox"}});
  l.push_back({{"name", "etc"}, {"type", "dir"}});
  l.push_back({{"name", "etc/passwd"},
               {"data", "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"}});
  l.push_back({{"name", "etc/group"}, {"data", "root:x:0:\nstaff:x:1001:\nwheel:x:10:\n"}});
  return l;
}

int count_occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

LoopbackListener::LoopbackListener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd_, 16) < 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) < 0)
    ADD_FAILURE() << "cannot listen on 127.0.0.1: " << strerror(errno);
  port_ = ntohs(a.sin_port);
}

LoopbackListener::~LoopbackListener() {
  if (fd_ >= 0) close(fd_);
}

const DebianFixture& debian_fixture() {
  static const DebianFixture fixture = [] {
    DebianFixture f;
    std::string cache = CORACLE_TEST_CACHE,
                script = std::string(CORACLE_FIXTURES) + "/make_debian_rootfs.sh";
    // Named by the script's hash: a changed script makes a new one.
    std::string hash = run_sh("sha256sum " + script + " | cut -c1-12");
    if (!hash.empty()) hash.pop_back();
    std::string dir = cache + "/debian-" + hash;
    // One maker at a time (each test runs in its own process); a second
    // finds it made.
    std::string cmd = "mkdir -p " + cache + " && flock " + cache + "/.debian.lock sh -c 'test -f " +
                      dir + "/debian.tar || " + script + " " + dir + " " + CORACLE_BIN + "' 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
      f.skip = out;
      return f;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << "making the Debian fixture failed: " << out;
      f.skip = "the Debian fixture could not be made";
      return f;
    }
    f.rootfs = dir + "/rootfs";
    f.archive = dir + "/debian.tar";
    f.mirror = run_sh("cat " + dir + "/mirror");
    while (!f.mirror.empty() && f.mirror.back() == '\n') f.mirror.pop_back();
    return f;
  }();
  return fixture;
}

}  // namespace coracle::test
