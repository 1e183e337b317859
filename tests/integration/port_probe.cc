// A static app for the port monitor tests, run inside sandboxes. It reads
// one command per line on stdin and answers each with a line "probe ..." on
// stdout, written whole (the monitor writes its events to the same stream).
//
//   tcp4|tcp6|udp4|udp6 ADDR PORT   bind (and listen, for tcp): "probe opened ID PORT"
//   bindonly ADDR                   a TCP socket bound, never listening
//   unix PATH                       a listening unix socket
//   close ID                        "probe closed ID"
//   shutdown ID                     shutdown(SHUT_RDWR) of a listener, kept open
//   churn N                         N TCP listeners opened and closed, one by one
//   badlisten N                     N listen() calls that fail (on connected TCP sockets)
//   echo PORT                       a TCP echo server (a thread per connection)
//   udpecho PORT                    a UDP echo server
//   sink PORT                       reads each connection to its end, answers the count
//   source PORT                     reads "N\n", writes N bytes, closes
//   latency N GAP_US                N listeners on 127.0.0.1:0, a random gap up to
//                                   GAP_US apart, kept open: "probe t PORT NS" each,
//                                   NS = CLOCK_REALTIME right after listen()
//   exit CODE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

void say(const std::string& line) {
  std::string text = "probe " + line + "\n";
  (void)!write(1, text.data(), text.size());
}

[[noreturn]] void die(const std::string& what) {
  say("error " + what + ": " + strerror(errno));
  exit(3);
}

uint16_t port_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

int open_inet(int family, int type, const std::string& addr, int port, bool do_listen) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &a->sin_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr);
    len = sizeof *a;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) die("bind");
  if (do_listen && listen(fd, 512) < 0) die("listen");
  return fd;
}

void echo_connection(int fd) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) {
        close(fd);
        return;
      }
      off += w;
    }
  }
  // The client's FIN came after all its data: answer with ours.
  shutdown(fd, SHUT_WR);
  close(fd);
}

void echo_server(int listener) {
  for (;;) {
    int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::thread(echo_connection, c).detach();
  }
}

void udp_echo(int fd) {
  char buf[65536];
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

void sink_connection(int fd) {
  static char buf[1 << 20];  // shared scratch: the bytes are thrown away
  unsigned long long total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    total += static_cast<unsigned long long>(n);
  }
  std::string answer = std::to_string(total) + "\n";
  (void)!write(fd, answer.data(), answer.size());
  close(fd);
}

void source_connection(int fd) {
  std::string request;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') request += c;
  unsigned long long left = strtoull(request.c_str(), nullptr, 10);
  std::vector<char> buf(1 << 20, 'x');
  while (left > 0) {
    ssize_t n = write(fd, buf.data(), std::min<unsigned long long>(left, buf.size()));
    if (n <= 0) break;
    left -= static_cast<unsigned long long>(n);
  }
  close(fd);
}

void serve(int listener, void (*handler)(int)) {
  for (;;) {
    int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) std::thread(handler, c).detach();
  }
}

}  // namespace

int main() {
  std::map<int, int> sockets;  // id → fd
  int next_id = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "tcp4" || cmd == "tcp6" || cmd == "udp4" || cmd == "udp6") {
      std::string addr;
      int port = 0;
      in >> addr >> port;
      int family = cmd.back() == '4' ? AF_INET : AF_INET6;
      bool tcp = cmd[0] == 't';
      int fd = open_inet(family, tcp ? SOCK_STREAM : SOCK_DGRAM, addr, port, tcp);
      int id = next_id++;
      sockets[id] = fd;
      say("opened " + std::to_string(id) + " " + std::to_string(port_of(fd)));
    } else if (cmd == "bindonly") {
      std::string addr;
      in >> addr;
      int fd = open_inet(AF_INET, SOCK_STREAM, addr, 0, false);
      int id = next_id++;
      sockets[id] = fd;
      say("bound " + std::to_string(id) + " " + std::to_string(port_of(fd)));
    } else if (cmd == "unix") {
      std::string path;
      in >> path;
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
      unlink(path.c_str());
      if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd, 8) < 0) die("unix");
      int id = next_id++;
      sockets[id] = fd;
      say("unix " + std::to_string(id));
    } else if (cmd == "close" || cmd == "shutdown") {
      int id = -1;
      in >> id;
      if (!sockets.count(id)) die("no socket " + std::to_string(id));
      if (cmd == "close") {
        close(sockets[id]);
        sockets.erase(id);
      } else {
        shutdown(sockets[id], SHUT_RDWR);
      }
      say((cmd == "close" ? "closed " : "shut ") + std::to_string(id));
    } else if (cmd == "churn") {
      int n = 0;
      in >> n;
      for (int i = 0; i < n; ++i) close(open_inet(AF_INET, SOCK_STREAM, "127.0.0.1", 0, true));
      say("churned " + std::to_string(n));
    } else if (cmd == "badlisten") {
      int n = 0, failed = 0;
      in >> n;
      int server = open_inet(AF_INET, SOCK_STREAM, "127.0.0.1", 0, true);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port_of(server));
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      std::vector<int> kept = {server};
      for (int i = 0; i < n; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
        failed += listen(fd, 1) < 0;  // EINVAL: it is connected
        kept.push_back(fd);
      }
      for (int fd : kept) close(fd);
      say("badlistened " + std::to_string(failed));
    } else if (cmd == "echo" || cmd == "udpecho") {
      int port = 0;
      in >> port;
      bool tcp = cmd == "echo";
      int fd = open_inet(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, "0.0.0.0", port, tcp);
      std::thread(tcp ? echo_server : udp_echo, fd).detach();
      say(std::string(tcp ? "echoing " : "udpechoing ") + std::to_string(port_of(fd)));
    } else if (cmd == "sink" || cmd == "source") {
      int port = 0;
      in >> port;
      int fd = open_inet(AF_INET, SOCK_STREAM, "0.0.0.0", port, true);
      std::thread(serve, fd, cmd == "sink" ? sink_connection : source_connection).detach();
      say(cmd + "ing " + std::to_string(port_of(fd)));
    } else if (cmd == "latency") {
      int n = 0, gap_us = 0;
      in >> n >> gap_us;
      std::mt19937 rng(42);
      std::uniform_int_distribution<int> gap(0, gap_us);
      for (int i = 0; i < n; ++i) {
        int fd = open_inet(AF_INET, SOCK_STREAM, "127.0.0.1", 0, true);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        say("t " + std::to_string(port_of(fd)) + " " + std::to_string(ns));
        usleep(static_cast<useconds_t>(gap(rng)));
      }
      say("latency done");
    } else if (cmd == "exit") {
      int code = 0;
      in >> code;
      say("exiting");
      _exit(code);
    } else if (!cmd.empty()) {
      say("unknown " + cmd);
    }
  }
  return 0;
}
