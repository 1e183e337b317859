// The port monitor through the real binary: a sandboxed app opens and closes
// ports at chosen moments and the events must follow, in order, with the
// right fields. Most runs turn the safety rescan off (an hour), so every
// event has to come from the triggers: the bind/listen notifications and
// the sock_diag destroy broadcast.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"
#include "port_app.h"

namespace coracle::test {
namespace {

using nlohmann::json;

RunOptions rescan_every(int ms) {
  RunOptions o;
  o.env = {"CORACLE_PORT_RESCAN_MS=" + std::to_string(ms)};
  return o;
}
RunOptions triggers_only() {
  return rescan_every(3600 * 1000);
}

// "opened ID PORT" → PORT
uint16_t port_in(const std::string& answer) {
  auto words = split(answer, ' ');
  EXPECT_EQ(words.size(), 3u) << answer;
  EXPECT_EQ(words[0], "opened") << answer;
  return words.size() == 3 ? static_cast<uint16_t>(std::stoi(words[2])) : 0;
}

size_t count(const PortApp::Events& events, const std::string& kind, uint16_t port) {
  size_t n = 0;
  for (const auto& e : events)
    if (e.value("event", "") == kind && e.value("port", 0) == port) ++n;
  return n;
}

int open_fds(pid_t pid) {
  return count_entries("/proc/" + std::to_string(pid) + "/fd");
}

TEST(PortMonitor, EventsArriveInOrderWithTheirFields) {
  PortApp app({"--watch-ports"}, triggers_only());
  uint16_t tcp4 = port_in(app.send("tcp4 127.0.0.1 0"));
  uint16_t tcp6 = port_in(app.send("tcp6 ::1 0"));
  uint16_t udp4 = port_in(app.send("udp4 0.0.0.0 0"));
  uint16_t udp6 = port_in(app.send("udp6 :: 0"));
  // Neither a unix socket nor a TCP socket that is bound but not listening
  // is a port anyone can reach.
  EXPECT_EQ(app.send("unix /tmp/only-unix"), "unix 4");
  EXPECT_EQ(app.send("bindonly 127.0.0.1").rfind("bound 5 ", 0), 0u);
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return ev.size() >= 4; }));

  struct Want {
    const char* proto;
    const char* family;
    const char* address;
    uint16_t port;
  } wants[] = {{"tcp", "ipv4", "127.0.0.1", tcp4},
               {"tcp", "ipv6", "::1", tcp6},
               {"udp", "ipv4", "0.0.0.0", udp4},
               {"udp", "ipv6", "::", udp6}};
  for (size_t i = 0; i < 4; ++i) {
    const json& e = app.events()[i];
    SCOPED_TRACE(e.dump());
    EXPECT_EQ(e["event"], "port.open");
    EXPECT_EQ(e["proto"], wants[i].proto);
    EXPECT_EQ(e["family"], wants[i].family);
    EXPECT_EQ(e["address"], wants[i].address);
    EXPECT_EQ(e["port"], wants[i].port);
    EXPECT_EQ(e["process"], "port_probe");
    // The app is pid 2 in its pid namespace (init is 1); the host pid is
    // another number.
    EXPECT_EQ(e["sandbox_pid"], 2);
    EXPECT_GT(e.value("pid", 0), 2);
    EXPECT_FALSE(e.contains("host_port"));  // only watched, not forwarded
    double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_NEAR(e.value("time_ms", 0.0) / 1000, now, 60.0);  // when it was seen, epoch ms
  }

  EXPECT_EQ(app.send("close 0"), "closed 0");
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.close", tcp4) == 1; }));
  EXPECT_EQ(app.send("close 2"), "closed 2");
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.close", udp4) == 1; }));
  EXPECT_EQ(app.events()[4]["port"], tcp4);
  EXPECT_EQ(app.events()[5]["port"], udp4);
  EXPECT_EQ(app.events()[5]["proto"], "udp");

  // At the end every port still open is reported closed, before the result.
  EXPECT_EQ(app.finish(7), 7);
  const auto& ev = app.events();
  ASSERT_EQ(ev.size(), 9u);
  EXPECT_EQ(count(ev, "port.close", tcp6), 1u);
  EXPECT_EQ(count(ev, "port.close", udp6), 1u);
  EXPECT_EQ(ev.back()["event"], "result");
  EXPECT_EQ(ev.back()["exit_code"], 7);
}

TEST(PortMonitor, PortZeroAndReopenedPortsAreEachReported) {
  PortApp app({"--watch-ports"}, triggers_only());
  uint16_t first = port_in(app.send("tcp4 0.0.0.0 0"));
  EXPECT_NE(first, 0);
  EXPECT_EQ(app.send("close 0"), "closed 0");
  // The same number again is a new socket: a new open after the close.
  EXPECT_EQ(port_in(app.send("tcp4 0.0.0.0 " + std::to_string(first))), first);
  // The broadcast of the close and the second open race; both must come.
  ASSERT_TRUE(app.wait_for([&](const auto& ev) {
    return count(ev, "port.open", first) == 2 && count(ev, "port.close", first) == 1;
  }));
  EXPECT_EQ(app.finish(), 0);
  EXPECT_EQ(count(app.events(), "port.close", first), 2u);
}

TEST(PortMonitor, AListenerShutDownButNotClosedIsFoundByTheRescan) {
  // No socket is destroyed here, so no broadcast comes: only the rescan
  // can see that the port no longer listens.
  PortApp app({"--watch-ports"}, rescan_every(200));
  uint16_t port = port_in(app.send("tcp4 127.0.0.1 0"));
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.open", port) == 1; }));
  EXPECT_EQ(app.send("shutdown 0"), "shut 0");
  EXPECT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.close", port) == 1; }));
  EXPECT_EQ(app.finish(), 0);
  EXPECT_EQ(count(app.events(), "port.close", port), 1u);  // not twice
}

TEST(PortMonitor, ThousandsOfOpensAndClosesStayBalancedAndLeakNothing) {
  PortApp app({"--watch-ports"}, triggers_only());
  ASSERT_EQ(app.send("tcp4 127.0.0.1 0").rfind("opened 0 ", 0), 0u);
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return ev.size() == 1; }));
  // The runner is coracle's own process: its fds now, with the monitor
  // running, are the baseline. The monitor's duplicate of a socket closes
  // just after its event, so both counts are taken at rest.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int fds_before = open_fds(app.pid());
  ASSERT_GT(fds_before, 0);

  constexpr size_t kChurn = 2000;
  EXPECT_EQ(app.send("churn " + std::to_string(kChurn)), "churned " + std::to_string(kChurn));
  EXPECT_TRUE(app.wait_for(
      [&](const auto& ev) {
        return app.of_kind("port.open").size() >= kChurn + 1 &&
               app.of_kind("port.close").size() >= kChurn;
      },
      60000));
  ASSERT_TRUE(app.of_kind("port.open").size() == kChurn + 1 &&
              app.of_kind("port.close").size() == kChurn)
      << app.of_kind("port.open").size() << " opens, " << app.of_kind("port.close").size()
      << " closes";
  // Per port number, opens and closes alternate, starting with an open.
  std::map<int, int> state;
  for (const auto& e : app.events()) {
    int& open = state[e.value("port", 0)];
    if (e["event"] == "port.open") EXPECT_EQ(open++, 0) << e.dump();
    if (e["event"] == "port.close") EXPECT_EQ(open--, 1) << e.dump();
  }
  int fds_after = open_fds(app.pid());
  for (int i = 0; i < 100 && fds_after != fds_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    fds_after = open_fds(app.pid());
  }
  EXPECT_EQ(fds_after, fds_before);
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortMonitor, FailingListenCallsCannotExhaustTheRunnersFds) {
  // Each listen() is checked for a while on a duplicate of its socket; a
  // thousand that fail must not become a thousand fds in the runner.
  PortApp app({"--watch-ports"}, triggers_only());
  EXPECT_EQ(app.send("tcp4 127.0.0.1 0").rfind("opened 0 ", 0), 0u);
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return ev.size() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int fds_before = open_fds(app.pid());
  EXPECT_EQ(app.send("badlisten 400"), "badlistened 400");  // under the backlog (512)
  // Right away, before the checks give up (a second after each call).
  EXPECT_LE(open_fds(app.pid()), fds_before + 256 + 8);
  EXPECT_EQ(app.finish(), 0);
}

TEST(PortMonitor, WithTheHostNetworkOnlyTheSandboxsSocketsCount) {
  // A listener of the test itself, on the same host network.
  LoopbackListener own;
  auto own_port = static_cast<uint16_t>(own.port());

  PortApp app({"--watch-ports", "--net", "host"}, rescan_every(100));
  uint16_t port = port_in(app.send("tcp4 127.0.0.1 0"));
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.open", port) == 1; }));
  // Several rescans of the host's sockets later, still only the app's.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(app.send("close 0"), "closed 0");
  ASSERT_TRUE(app.wait_for([&](const auto& ev) { return count(ev, "port.close", port) == 1; }));
  EXPECT_EQ(app.finish(), 0);
  EXPECT_EQ(count(app.events(), "port.open", own_port), 0u);
  EXPECT_EQ(app.of_kind("port.open").size(), 1u);
}

TEST(PortMonitor, AppWithoutPortsRunsAsUsual) {
  auto r = coracle({"exec", "--watch-ports", "--json", "--", "/bin/sh", "-c", "echo plain"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Its output travels as a log event; no port event at all.
  EXPECT_EQ(lines_with(r.out, R"({"event":"log")").size(), 1u) << r.out;
  EXPECT_NE(r.out.find(R"("stream":"stdout","line":"plain")"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("port."), std::string::npos);
}

TEST(PortMonitor, ForwardingWithoutANetworkIsRefused) {
  auto r = coracle({"exec", "--net", "none", "-P", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--net none"), std::string::npos) << r.err;
  r = coracle({"exec", "-p", "80:eighty", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("'eighty' is not a port"), std::string::npos) << r.err;
  r = coracle({"exec", "-p", "10.0.0.300:80:80", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is not an IP address"), std::string::npos) << r.err;
}

TEST(PortMonitor, TextLinesOnStderrWithoutJson) {
  auto r = coracle(
      {"exec", "--watch-ports", "--", "/bin/sh", "-c", "nc -l -p 5005 & sleep 0.3; kill $!; wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto opened = lines_with(r.err, "port 5005/tcp open on ");
  ASSERT_EQ(opened.size(), 1u) << r.err;
  EXPECT_NE(opened[0].find("(nc, pid "), std::string::npos) << opened[0];
  EXPECT_EQ(lines_with(r.err, "port 5005/tcp closed").size(), 1u) << r.err;
  EXPECT_EQ(r.out, "");
}

// `exec -P` of the port probe fed commands, one each 0.4 s (so that the
// monitor sees each state); as: the path the probe is copied to and run
// from inside (its comm), else /probe itself.
RunResult exec_probe_paced(const std::string& commands, const std::string& as = "") {
  TempDir work;
  std::string script = work.path() + "/cmds";
  write_file_atomic(script, commands);
  std::string probe = as.empty() ? "/probe" : "\"$n\"";
  std::string copy = as.empty() ? "" : "n=\"" + as + "\"; cp /probe \"$n\"; ";
  return coracle({"exec", "-P", "-v", std::string(port_probe()) + ":/probe:ro", "-v",
                  script + ":/cmds:ro", "--", "/bin/sh", "-c",
                  copy + "while read l; do echo \"$l\"; sleep 0.4; done < /cmds | " + probe});
}

TEST(PortMonitor, LinesNameTheFamilyOfTwinListenersAndPromiseNoScheme) {
  // An IPv4 and an IPv6 listener on one port (nginx's `listen 80` and
  // `listen [::]:80`): each line says which; nothing says http:// of a
  // port not known to speak it.
  auto r = exec_probe_paced("tcp4 127.0.0.1 8089\ntcp6 ::1 8089\nclose 0\nclose 1\nexit 0\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_with(r.err, "port 8089/tcp open → 127.0.0.1:").size(), 1u) << r.err;
  EXPECT_EQ(lines_with(r.err, "port 8089/tcp (IPv6) open → ").size(), 1u) << r.err;
  EXPECT_EQ(lines_with(r.err, "port 8089/tcp (IPv4) closed").size(), 1u) << r.err;
  EXPECT_EQ(lines_with(r.err, "port 8089/tcp (IPv6) closed").size(), 1u) << r.err;
  EXPECT_EQ(r.err.find("http://"), std::string::npos) << r.err;
}

// A process names itself (its comm: here its file's name) and that name is
// printed in the port lines: a terminal sequence in it (a title, OSC 52's
// clipboard) reaches the user's terminal only through the one sanitiser.
TEST(PortMonitor, AProcessNameReachesTheTerminalOnlySanitised) {
  auto r = exec_probe_paced("tcp4 127.0.0.1 8091\nclose 0\nexit 0\n",
                            "/tmp/$(printf '\\033]0;pwn\\007')");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_with(r.err, "port 8091/tcp open").size(), 1u) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x07'), std::string::npos) << r.err;
  // The sequence goes whole; the line still says whose port it is.
  ASSERT_EQ(lines_with(r.err, "port 8091/tcp open").size(), 1u);
  EXPECT_NE(lines_with(r.err, "port 8091/tcp open")[0].find("(?, pid "), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace coracle::test
