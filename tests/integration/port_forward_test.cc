// Forwarding from the host into the sandbox, through the real binary: data
// integrity both ways with half-close, many connections at once, UDP, a
// taken host port, publish-all following the app's ports, and an app that
// exits under an open connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/sha256.h"
#include "harness.h"
#include "port_app.h"

namespace coracle::test {
namespace {

using nlohmann::json;

bool has_open(const PortApp::Events& events, uint16_t port) {
  for (const auto& e : events)
    if (e.value("event", "") == "port.open" && e.value("port", 0) == port) return true;
  return false;
}

// xorshift64: cheap bytes that are not all alike.
void fill(std::vector<char>& buf, uint64_t& state) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    memcpy(&buf[i], &state, 8);
  }
}

bool write_all_fd(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

TEST(PortForward, MovesAQuarterGigabyteBothWaysIntact) {
  uint16_t host = free_host_port();
  PortApp app({"-p", std::to_string(host) + ":7000"});
  EXPECT_EQ(app.send("echo 7000"), "echoing 7000");
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return has_open(ev, 7000); }));
  auto published = app.of_kind("port.publish");
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0]["host_port"], host);
  EXPECT_EQ(published[0]["host_address"], "0.0.0.0");
  EXPECT_EQ(app.of_kind("port.open")[0]["host_port"], host);

  int fd = connect_tcp(host);
  ASSERT_GE(fd, 0);
  constexpr size_t kTotal = 256u << 20;
  std::string sent_digest;
  std::thread writer([&] {
    Sha256 hash;
    std::vector<char> buf(1 << 20);
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (size_t done = 0; done < kTotal; done += buf.size()) {
      fill(buf, state);
      hash.update(buf.data(), buf.size());
      if (!write_all_fd(fd, buf.data(), buf.size())) break;
    }
    sent_digest = hash.digest();
    shutdown(fd, SHUT_WR);  // the echo answers with its own FIN once drained
  });
  Sha256 hash;
  size_t received = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    received += static_cast<size_t>(n);
  }
  writer.join();
  close(fd);
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(hash.digest(), sent_digest);
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortForward, ServesTwoHundredConnectionsAtOnce) {
  uint16_t host = free_host_port();
  PortApp app({"-p", "127.0.0.1:" + std::to_string(host) + ":7000"});
  EXPECT_EQ(app.send("echo 7000"), "echoing 7000");
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return has_open(ev, 7000); }));
  constexpr int kConnections = 200;
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    fds.push_back(connect_tcp(host));
    ASSERT_GE(fds.back(), 0) << "connection " << i;
  }
  // All are open together before any is used.
  for (int i = 0; i < kConnections; ++i) {
    std::string msg = "hello from connection " + std::to_string(i) + "\n";
    ASSERT_TRUE(write_all_fd(fds[i], msg.data(), msg.size()));
  }
  for (int i = 0; i < kConnections; ++i) {
    std::string want = "hello from connection " + std::to_string(i) + "\n", got;
    char buf[256];
    struct pollfd p = {fds[i], POLLIN, 0};
    while (got.size() < want.size() && poll(&p, 1, 10000) == 1) {
      ssize_t n = read(fds[i], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(got, want);
    close(fds[i]);
  }
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortForward, ATakenHostPortMovesToTheNextFreeOne) {
  uint16_t taken = free_host_port();
  int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(taken);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(holder, 1), 0);

  PortApp app({"-p", std::to_string(taken) + ":7000"});
  EXPECT_EQ(app.send("echo 7000"), "echoing 7000");
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return has_open(ev, 7000); }));
  auto published = app.of_kind("port.publish");
  ASSERT_EQ(published.size(), 1u);
  uint16_t moved = published[0]["host_port"];
  EXPECT_NE(moved, taken);
  EXPECT_EQ(published[0]["note"], "host port " + std::to_string(taken) + " is taken");
  int fd = connect_tcp(moved);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all_fd(fd, "ping", 4));
  char buf[4];
  EXPECT_EQ(read(fd, buf, 4), 4);
  close(fd);
  EXPECT_EQ(app.finish(), 0);
  close(holder);

  // Without --json the move is said on stderr, for people.
  holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  auto r = coracle({"exec", "-p", std::to_string(taken) + ":80", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("(host port " + std::to_string(taken) + " is taken)"), std::string::npos)
      << r.err;
  close(holder);
}

TEST(PortForward, PublishAllFollowsTheAppsPorts) {
  uint16_t port = free_host_port();  // free on the host, so it keeps its number
  PortApp app({"-P"});
  EXPECT_EQ(app.send("tcp4 0.0.0.0 " + std::to_string(port)), "opened 0 " + std::to_string(port));
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return has_open(ev, port); }));
  json open = app.of_kind("port.open")[0];
  EXPECT_EQ(open["host_address"], "127.0.0.1");
  EXPECT_EQ(open["host_port"], port);
  int fd = connect_tcp(port);
  EXPECT_GE(fd, 0);  // accepted on the host, connected to the app's backlog
  if (fd >= 0) close(fd);

  // Closed in the sandbox: the host side goes too.
  EXPECT_EQ(app.send("close 0"), "closed 0");
  ASSERT_TRUE(app.wait_for([](const auto& ev) {
    for (const auto& e : ev)
      if (e.value("event", "") == "port.close") return true;
    return false;
  }));
  EXPECT_EQ(connect_tcp(port), -1);
  EXPECT_EQ(errno, ECONNREFUSED);

  // An echo on another port works through it.
  uint16_t echo = free_host_port();
  EXPECT_EQ(app.send("echo " + std::to_string(echo)), "echoing " + std::to_string(echo));
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return has_open(ev, echo); }));
  fd = connect_tcp(echo);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all_fd(fd, "pong", 4));
  char buf[4];
  EXPECT_EQ(read(fd, buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "pong");
  close(fd);
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortForward, UdpDatagramsGoBothWays) {
  uint16_t host = free_host_port();
  PortApp app({"-p", "127.0.0.1:" + std::to_string(host) + ":7002/udp"});
  EXPECT_EQ(app.send("udpecho 7002"), "udpechoing 7002");
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return has_open(ev, 7002); }));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(host);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  for (int i = 0; i < 10; ++i) {
    std::string msg = "datagram " + std::to_string(i);
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    char buf[64];
    struct pollfd p = {fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "no reply to " << msg;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))), msg);
  }
  close(fd);
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortForward, AnAppExitingUnderAnOpenConnectionEndsTheRun) {
  uint16_t host = free_host_port();
  PortApp app({"-p", std::to_string(host) + ":7000"});
  EXPECT_EQ(app.send("echo 7000"), "echoing 7000");
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return has_open(ev, 7000); }));
  int fd = connect_tcp(host);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all_fd(fd, "x", 1));
  char c;
  ASSERT_EQ(read(fd, &c, 1), 1);
  EXPECT_EQ(app.finish(3), 3);
  // The connection ends with the run instead of hanging.
  struct pollfd p = {fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_LE(read(fd, &c, 1), 0);
  close(fd);
  // The host port is free again.
  EXPECT_EQ(connect_tcp(host), -1);
}

}  // namespace
}  // namespace coracle::test
