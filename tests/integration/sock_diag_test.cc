// The sock_diag client against real sockets: listeners and bound UDP
// sockets of both families in this namespace, their owners, and a query
// into another network namespace that sees its sockets and only those.
#include "portmon/sock_diag.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/unique_fd.h"

namespace coracle::portmon {
namespace {

UniqueFd bound(int family, int type, const char* addr, bool listen_too) {
  UniqueFd fd(socket(family, type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &a->sin_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &a->sin6_addr);
    len = sizeof *a;
  }
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
  if (listen_too) {
    EXPECT_EQ(listen(fd.get(), 8), 0);
  }
  return fd;
}

uint16_t port_of(int fd) {
  return local_port(fd);
}

uint64_t inode_of(int fd) {
  struct stat st;
  fstat(fd, &st);
  return st.st_ino;
}

const OpenPort* find(const std::vector<OpenPort>& ports, Proto proto, uint16_t port) {
  for (const auto& p : ports)
    if (p.proto == proto && p.port == port) return &p;
  return nullptr;
}

TEST(SockDiag, ListsListenersAndBoundUdpOfBothFamiliesWithOwners) {
  UniqueFd tcp4 = bound(AF_INET, SOCK_STREAM, "127.0.0.1", true);
  UniqueFd tcp6 = bound(AF_INET6, SOCK_STREAM, "::1", true);
  UniqueFd udp4 = bound(AF_INET, SOCK_DGRAM, "127.0.0.1", false);
  UniqueFd udp6 = bound(AF_INET6, SOCK_DGRAM, "::", false);
  UniqueFd idle = bound(AF_INET, SOCK_STREAM, "127.0.0.1", false);  // bound, not listening

  auto ports = SockDiag().open_ports();
  struct Want {
    int fd;
    Proto proto;
    int family;
    const char* address;
  } wants[] = {{tcp4.get(), Proto::kTcp, AF_INET, "127.0.0.1"},
               {tcp6.get(), Proto::kTcp, AF_INET6, "::1"},
               {udp4.get(), Proto::kUdp, AF_INET, "127.0.0.1"},
               {udp6.get(), Proto::kUdp, AF_INET6, "::"}};
  auto owners = socket_owners(getpid());
  for (const auto& w : wants) {
    const OpenPort* p = find(ports, w.proto, port_of(w.fd));
    ASSERT_NE(p, nullptr) << proto_name(w.proto) << " " << w.address;
    EXPECT_EQ(p->family, w.family);
    EXPECT_EQ(p->address, w.address);
    EXPECT_EQ(p->inode, inode_of(w.fd));
    EXPECT_EQ(p->uid, geteuid());
    EXPECT_EQ(owners[p->inode], getpid());
  }
  EXPECT_EQ(find(ports, Proto::kTcp, port_of(idle.get())), nullptr);
  // Closed: gone from the next dump.
  uint16_t closed = port_of(tcp4.get());
  tcp4.reset();
  EXPECT_EQ(find(SockDiag().open_ports(), Proto::kTcp, closed), nullptr);
}

TEST(SockDiag, APortFilterAnswersWithThatPortAlone) {
  UniqueFd a = bound(AF_INET, SOCK_STREAM, "127.0.0.1", true);
  UniqueFd b = bound(AF_INET, SOCK_STREAM, "127.0.0.1", true);
  UniqueFd u = bound(AF_INET, SOCK_DGRAM, "127.0.0.1", false);
  SockDiag diag;
  std::vector<OpenPort> only;
  diag.dump(Proto::kTcp, AF_INET, only, port_of(a.get()));
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].inode, inode_of(a.get()));
  EXPECT_NE(only[0].cookie, 0u);
  only.clear();
  diag.dump(Proto::kUdp, AF_INET, only, port_of(u.get()));
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].inode, inode_of(u.get()));
  // Unfiltered, both listeners are there, with the same cookies.
  std::vector<OpenPort> all;
  diag.dump(Proto::kTcp, AF_INET, all);
  EXPECT_NE(find(all, Proto::kTcp, port_of(a.get())), nullptr);
  EXPECT_NE(find(all, Proto::kTcp, port_of(b.get())), nullptr);
}

TEST(SockDiag, DestroyEventsCarryTheCookieOfTheClosedSocket) {
  SockDiag diag;
  DestroyEvents destroyed(UniqueFd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 4)));
  UniqueFd a = bound(AF_INET6, SOCK_STREAM, "::1", true);
  std::vector<OpenPort> one;
  diag.dump(Proto::kTcp, AF_INET6, one, port_of(a.get()));
  ASSERT_EQ(one.size(), 1u);
  a.reset();
  std::vector<uint64_t> cookies;
  // The broadcast comes from a kernel work queue: a moment later.
  for (int i = 0; i < 200 && cookies.empty(); ++i) {
    destroyed.read(cookies);
    if (cookies.empty()) usleep(5000);
  }
  EXPECT_NE(std::find(cookies.begin(), cookies.end(), one[0].cookie), cookies.end());
}

TEST(SockDiag, DestroyEventsLeaveOutConnections) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  // In a namespace of its own (this thread's alone), so no other socket of
  // the host can be destroyed meanwhile.
  std::vector<uint64_t> after_connection, after_listener;
  std::string failure;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) < 0) {
      failure = "unshare";
      return;
    }
    UniqueFd ctl(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq lo {};
    strcpy(lo.ifr_name, "lo");
    lo.ifr_flags = IFF_UP;
    if (ioctl(ctl.get(), SIOCSIFFLAGS, &lo) < 0) {
      failure = "loopback up";
      return;
    }
    DestroyEvents destroyed(UniqueFd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 4)));
    UniqueFd listener = bound(AF_INET, SOCK_STREAM, "127.0.0.1", true);
    UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_of(listener.get()));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      failure = "connect";
      return;
    }
    UniqueFd served(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    // A reset, so neither end lingers in TIME_WAIT or FIN_WAIT.
    struct linger now {
      1, 0
    };
    setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
    client.reset();
    served.reset();
    usleep(100000);
    destroyed.read(after_connection);
    listener.reset();
    for (int i = 0; i < 200 && after_listener.empty(); ++i) {
      usleep(5000);
      destroyed.read(after_listener);
    }
  });
  t.join();
  ASSERT_EQ(failure, "");
  EXPECT_TRUE(after_connection.empty()) << after_connection.size() << " events";
  EXPECT_EQ(after_listener.size(), 1u);
}

TEST(SockDiag, QueriesAnotherNetworkNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWNET) < 0) _exit(1);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    a.sin_port = htons(4567);
    if (bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
        listen(listener.get(), 1) < 0)
      _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  struct stat before, after;
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &before), 0);
  UniqueFd ns(open(("/proc/" + std::to_string(child) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ns);
  auto inside = SockDiag::in_netns(ns.get()).open_ports();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_EQ(inside.size(), 1u);  // a fresh namespace: this listener alone
  EXPECT_EQ(inside[0].port, 4567);
  EXPECT_EQ(inside[0].address, "0.0.0.0");
  // The caller's own namespace is untouched by the query.
  ASSERT_EQ(stat("/proc/thread-self/ns/net", &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

}  // namespace
}  // namespace coracle::portmon
