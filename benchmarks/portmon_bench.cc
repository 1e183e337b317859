// The port monitor measured through the real binary, beside the way its
// peers find ports (VS Code's and pasta's /proc/net/tcp polling):
//
//   portmon_bench CORACLE PORT_PROBE detect [N=1000] [GAP_US=10000]
//     N listeners opened one after another in a sandbox (a random gap up to
//     GAP_US apart, each kept open), each stamped with CLOCK_MONOTONIC right
//     after listen() returned (CLOCK_REALTIME). In the same run: coracle's
//     port.open events from `exec --json --watch-ports`, timed both by the
//     event's own "time_ms" and when this program reads it, and two pollers of the
//     sandbox's /proc/PID/net/tcp at 100 ms and 1 s. Latency = seen − listen.
//   portmon_bench CORACLE PORT_PROBE idle [SECONDS=60]
//     coracle's CPU time while it forwards one idle port (-P).
//   portmon_bench CORACLE PORT_PROBE forward [MIB=512] [CONNECTIONS=2000] [ROUNDS=7]
//     Throughput both ways and connections per second through `-p`,
//     against the same server reached directly on loopback inside the
//     sandbox's network namespace (setns: run as root).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// CLOCK_REALTIME: the one clock the app, coracle's event times and this
// program share (there is no time namespace in between).
int64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
  fprintf(stderr, "portmon_bench: %s: %s\n", what.c_str(), strerror(errno));
  exit(1);
}

// coracle exec --json FLAGS -- /port_probe, with pipes to its stdin and
// stdout; lines are handed to on_line on a reader thread.
class Sandbox {
 public:
  Sandbox(const std::string& coracle, const std::string& probe,
          const std::vector<std::string>& flags, std::function<void(const std::string&)> on_line)
      : on_line_(std::move(on_line)) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) die("pipe");
    std::vector<std::string> args = {coracle, "exec", "--json", "-v", probe + ":/port_probe:ro"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "/port_probe"});
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    in_ = in[1];
    out_ = out[0];
    reader_ = std::thread([this] { read_lines(); });
  }
  ~Sandbox() {
    send("exit 0");
    close(in_);
    reader_.join();
    waitpid(pid_, nullptr, 0);
  }
  void send(const std::string& line) {
    std::string text = line + "\n";
    (void)!write(in_, text.data(), text.size());
  }
  pid_t pid() const { return pid_; }
  // The sandbox's init: the runner's only child.
  pid_t init_pid() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                    "/children");
    pid_t p = 0;
    f >> p;
    return p;
  }
  void wait_for(const std::function<bool()>& done, int max_ms = 30000) {
    for (int i = 0; i < max_ms && !done(); ++i) usleep(1000);
  }

 private:
  void read_lines() {
    std::string partial;
    char buf[65536];
    for (;;) {
      ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) break;
      int64_t t = now_ns();
      partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        line_time = t;
        on_line_(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
    close(out_);
  }

 public:
  int64_t line_time = 0;  // when the line being handled was read

 private:
  std::function<void(const std::string&)> on_line_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::thread reader_;
};

struct Stats {
  double p50, p99, max;
};
Stats stats_ms(std::vector<int64_t> ns) {
  if (ns.empty()) return {0, 0, 0};
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) { return ns[std::min(ns.size() - 1, size_t(q * ns.size()))] / 1e6; };
  return {at(0.50), at(0.99), ns.back() / 1e6};
}

// Listening ports in a /proc/PID/net/tcp file (state 0A), as pollers do.
std::set<int> proc_listeners(const std::string& path) {
  std::set<int> ports;
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state;
    in >> slot >> local >> remote >> state;
    if (state != "0A") continue;
    ports.insert(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
  }
  return ports;
}

void detect(const std::string& coracle, const std::string& probe, int n, int gap_us) {
  std::mutex mutex;
  std::map<int, int64_t> listened, seen, emitted;
  bool done = false;
  Sandbox* self = nullptr;
  Sandbox box(coracle, probe, {"--watch-ports"}, [&](const std::string& line) {
    std::lock_guard lock(mutex);
    if (line.rfind("probe t ", 0) == 0) {
      int port;
      long long ns;
      sscanf(line.c_str(), "probe t %d %lld", &port, &ns);
      listened[port] = ns;
    } else if (line == "probe latency done") {
      done = true;
    } else if (line.rfind("{\"", 0) == 0) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.value("event", "") == "port.open") {
        seen.emplace(j.value("port", 0), self->line_time);
        emitted.emplace(j.value("port", 0), static_cast<int64_t>(j.value("time_ms", 0.0) * 1e6));
      }
    }
  });
  self = &box;
  pid_t init = 0;
  box.wait_for([&] { return (init = box.init_pid()) > 0; });
  std::string table = "/proc/" + std::to_string(init) + "/net/tcp";

  // The peers' way, running at the same time on the same opens.
  std::atomic<bool> stop{false};
  std::map<int, std::map<int, int64_t>> polled;  // interval ms → port → time
  std::map<int, double> poll_cpu_ms;
  std::vector<std::thread> pollers;
  // PORTMON_BENCH_ALONE=1: no pollers, to see coracle's latency on a quiet machine.
  std::vector<int> intervals = {100, 1000};
  if (getenv("PORTMON_BENCH_ALONE")) intervals.clear();
  for (int interval : intervals) {
    pollers.emplace_back([&, interval] {
      std::map<int, int64_t> found;
      struct timespec c0, c1;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      while (!stop) {
        int64_t t = now_ns();
        for (int p : proc_listeners(table)) found.emplace(p, t);
        for (int i = 0; i < interval && !stop; i += 10) usleep(10000);
      }
      int64_t t = now_ns();
      for (int p : proc_listeners(table)) found.emplace(p, t);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      std::lock_guard lock(mutex);
      polled[interval] = std::move(found);
      poll_cpu_ms[interval] = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
    });
  }
  int64_t start = now_ns();
  box.send("latency " + std::to_string(n) + " " + std::to_string(gap_us));
  box.wait_for(
      [&] {
        std::lock_guard lock(mutex);
        return done && seen.size() >= static_cast<size_t>(n);
      },
      120000);
  usleep(1100 * 1000);  // one more round for the slow poller
  stop = true;
  for (auto& t : pollers) t.join();
  double window_s = (now_ns() - start) / 1e9;

  auto latencies = [&](const std::map<int, int64_t>& found, int* missed) {
    std::vector<int64_t> out;
    *missed = 0;
    for (const auto& [port, t0] : listened) {
      auto it = found.find(port);
      if (it == found.end()) {
        ++*missed;
        continue;
      }
      out.push_back(std::max<int64_t>(0, it->second - t0));
    }
    return out;
  };
  printf("detection latency, %d opens over %.1f s (listen() returned -> seen)\n", n, window_s);
  printf(
      "| watcher | p50 ms | p99 ms | max ms | missed | watcher CPU ms "
      "|\n|---|---|---|---|---|---|\n");
  int missed;
  Stats s = stats_ms(latencies(emitted, &missed));
  printf("| coracle, event emitted (its \"time\") | %.3f | %.3f | %.3f | %d | see idle |\n", s.p50,
         s.p99, s.max, missed);
  s = stats_ms(latencies(seen, &missed));
  printf("| coracle, event read by this program | %.3f | %.3f | %.3f | %d | see idle |\n", s.p50,
         s.p99, s.max, missed);
  for (int interval : intervals) {
    s = stats_ms(latencies(polled[interval], &missed));
    printf("| /proc/net/tcp poll every %d ms | %.1f | %.1f | %.1f | %d | %.1f |\n", interval, s.p50,
           s.p99, s.max, missed, poll_cpu_ms[interval]);
  }
}

// CPU time of every thread of pid, in seconds, to the nanosecond
// (/proc/PID/task/TID/schedstat; /proc/PID/stat counts 10 ms ticks).
double cpu_seconds(pid_t pid) {
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tasks)) {
    std::ifstream f(entry.path() / "schedstat");
    unsigned long long ns = 0;
    f >> ns;
    total += static_cast<double>(ns) / 1e9;
  }
  return total;
}

void idle(const std::string& coracle, const std::string& probe, int seconds) {
  std::atomic<bool> listening{false};
  Sandbox box(coracle, probe, {"-P"}, [&](const std::string& line) {
    if (line.find("\"port.open\"") != std::string::npos) listening = true;
  });
  box.send("echo 0");
  box.wait_for([&] { return listening.load(); });
  usleep(500 * 1000);
  double c0 = cpu_seconds(box.pid());
  int64_t t0 = now_ns();
  sleep(static_cast<unsigned>(seconds));
  double c1 = cpu_seconds(box.pid());
  double wall = (now_ns() - t0) / 1e9;
  printf(
      "idle monitor: %.2f ms of CPU in %.1f s = %.4f%% of one core (runner, one forwarded port, "
      "rescan every 2 s)\n",
      (c1 - c0) * 1e3, wall, 100.0 * (c1 - c0) / wall);
}

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("connect");
  return fd;
}

// MiB/s sending `bytes` to the sink, and receiving them from the source.
std::pair<double, double> throughput(uint16_t sink, uint16_t source, uint64_t bytes) {
  static std::vector<char> buf(1 << 20, 'y');
  int fd = connect_to(sink);
  int64_t t0 = now_ns();
  for (uint64_t sent = 0; sent < bytes;) {
    ssize_t n = write(fd, buf.data(), std::min<uint64_t>(buf.size(), bytes - sent));
    if (n <= 0) die("write");
    sent += static_cast<uint64_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char answer[64] = {};
  if (read(fd, answer, sizeof answer - 1) <= 0) die("sink answer");
  double up = bytes / 1048576.0 / ((now_ns() - t0) / 1e9);
  close(fd);
  fd = connect_to(source);
  std::string request = std::to_string(bytes) + "\n";
  t0 = now_ns();
  (void)!write(fd, request.data(), request.size());
  uint64_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    got += static_cast<uint64_t>(n);
  }
  double down = got / 1048576.0 / ((now_ns() - t0) / 1e9);
  close(fd);
  return {up, down};
}

double connections_per_second(uint16_t echo, int count) {
  int64_t t0 = now_ns();
  for (int i = 0; i < count; ++i) {
    int fd = connect_to(echo);
    char c = 'c';
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) die("echo");
    close(fd);
  }
  return count / ((now_ns() - t0) / 1e9);
}

void forward(const std::string& coracle, const std::string& probe, int mib, int connections,
             int rounds) {
  std::atomic<int> ready{0};
  uint16_t base = 17000;
  std::vector<std::string> flags;
  for (int i = 0; i < 3; ++i)
    flags.insert(flags.end(),
                 {"-p", "127.0.0.1:" + std::to_string(base + i) + ":" + std::to_string(7000 + i)});
  Sandbox box(coracle, probe, flags, [&](const std::string& line) {
    if (line.find("\"port.open\"") != std::string::npos) ++ready;
  });
  box.send("sink 7000");
  box.send("source 7001");
  box.send("echo 7002");
  box.wait_for([&] { return ready.load() == 3; });
  uint64_t bytes = static_cast<uint64_t>(mib) << 20;

  // Direct: the same servers from inside the sandbox's network namespace,
  // on a thread that joined it (setns moves only the calling thread).
  std::string ns = "/proc/" + std::to_string(box.init_pid()) + "/ns/net";
  auto inside = [&](const std::function<void()>& body) {
    std::thread t([&] {
      int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) die("setns into the sandbox (run as root)");
      close(fd);
      body();
    });
    t.join();
  };
  throughput(base, base + 1, 64 << 20);  // warm-up
  inside([&] { throughput(7000, 7001, 64 << 20); });
  // Rounds alternate between the two paths, so both see the same machine.
  std::vector<double> up[2], down[2], cps[2];
  for (int round = 0; round < rounds; ++round) {
    auto via = throughput(base, base + 1, bytes);
    up[1].push_back(via.first);
    down[1].push_back(via.second);
    cps[1].push_back(connections_per_second(base + 2, connections));
    inside([&] {
      auto direct = throughput(7000, 7001, bytes);
      up[0].push_back(direct.first);
      down[0].push_back(direct.second);
      cps[0].push_back(connections_per_second(7002, connections));
    });
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  printf(
      "forwarding: medians of %d alternating rounds, %d MiB each way and %d connections per "
      "round (host 127.0.0.1 -> sandbox)\n",
      rounds, mib, connections);
  printf("| path | upload MiB/s | download MiB/s | connections/s |\n|---|---|---|---|\n");
  const char* names[2] = {"direct loopback in the sandbox's netns", "through coracle -p"};
  for (int i = 0; i < 2; ++i)
    printf("| %s | %.0f | %.0f | %.0f |\n", names[i], median(up[i]), median(down[i]),
           median(cps[i]));
  printf("| ratio | %.2f | %.2f | %.2f |\n", median(up[1]) / median(up[0]),
         median(down[1]) / median(down[0]), median(cps[1]) / median(cps[0]));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s CORACLE PORT_PROBE detect|idle|forward [ARGS]\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  std::string coracle = argv[1], probe = argv[2], mode = argv[3];
  auto arg = [&](int i, int def) { return argc > i ? atoi(argv[i]) : def; };
  if (mode == "detect")
    detect(coracle, probe, arg(4, 1000), arg(5, 10000));
  else if (mode == "idle")
    idle(coracle, probe, arg(4, 60));
  else if (mode == "forward")
    forward(coracle, probe, arg(4, 512), arg(5, 2000), arg(6, 7));
  else
    return 2;
  return 0;
}
