// The port monitor as the chain's builtin:exec will use it: in-process,
// around sandbox::run(), many times in one process without leaking fds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "harness.h"
#include "image/default_image.h"
#include "port_app.h"
#include "portmon/portmon.h"
#include "sandbox/sandbox.h"

namespace coracle::portmon {
namespace {

// port_probe on the default image, reading commands from stdin_fd.
sandbox::Spec probe_spec(int stdin_fd, int stdout_fd) {
  sandbox::Spec spec;
  spec.rootfs = image::ensure_default_rootfs(test::store_root());
  spec.argv = {"/port_probe"};
  spec.volumes = {{test::port_probe(), "/port_probe", true}};
  spec.forward_signals = false;
  spec.stdin_fd = stdin_fd;
  spec.stdout_fd = stdout_fd;
  return spec;
}

TEST(PortLibrary, RunsAroundSandboxesRepeatedlyWithoutLeakingFds) {
  int fds_before = test::count_entries("/proc/self/fd");
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int in[2];
    ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
    UniqueFd null(open("/dev/null", O_WRONLY | O_CLOEXEC));
    sandbox::Spec spec = probe_spec(in[0], null.get());

    uint16_t host = test::free_host_port();
    std::mutex mutex;
    std::condition_variable changed;
    bool listening = false;
    MonitorOptions options;
    options.publish = {parse_publish("127.0.0.1:" + std::to_string(host) + ":7000")};
    options.on_event = [&](const PortEvent& e) {
      std::lock_guard lock(mutex);
      if (e.kind == PortEvent::Kind::kOpen && e.port.port == 7000) listening = true;
      changed.notify_all();
    };
    PortMonitor monitor(options);
    PortMonitor::prepare(spec);
    sandbox::Hooks hooks;
    hooks.on_start = [&](sandbox::Started& s) { monitor.attach(s); };

    std::string echoed;
    std::thread driver([&] {
      (void)!write(in[1], "echo 7000\n", 10);
      {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::seconds(20), [&] { return listening; });
      }
      EXPECT_EQ(monitor.open_ports().size(), 1u);
      int fd = test::connect_tcp(host);
      if (fd >= 0) {
        (void)!write(fd, "abc", 3);
        char buf[3];
        if (read(fd, buf, 3) == 3) echoed.assign(buf, 3);
        close(fd);
      }
      (void)!write(in[1], "exit 0\n", 7);
    });
    sandbox::Result result = sandbox::run(spec, hooks);
    driver.join();
    monitor.stop();
    close(in[0]);
    close(in[1]);
    EXPECT_EQ(result.exit_code, 0) << result.message;
    EXPECT_EQ(echoed, "abc");
    EXPECT_TRUE(monitor.open_ports().empty());  // every open has its close
    EXPECT_EQ(monitor.tcp_ports_seen(), std::set<uint16_t>{7000});
  }
  EXPECT_EQ(test::count_entries("/proc/self/fd"), fds_before);
}

TEST(PortLibrary, ASlowEventConsumerNeverHoldsUpTheApp) {
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  sandbox::Spec spec = probe_spec(in[0], out[1]);

  // The consumer is stuck (a full pipe, a stopped terminal) until released.
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::vector<PortEvent> events;
  MonitorOptions options;
  options.on_event = [&](const PortEvent& e) {
    std::unique_lock lock(mutex);
    released_cv.wait(lock, [&] { return released; });
    events.push_back(e);
  };
  PortMonitor monitor(options);
  PortMonitor::prepare(spec);
  sandbox::Hooks hooks;
  hooks.on_start = [&](sandbox::Started& s) { monitor.attach(s); };

  std::string answer;
  std::thread driver([&] {
    (void)!write(in[1], "churn 200\n", 10);
    answer = test::read_until(out[0], "churned", 20000);
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_cv.notify_all();
    (void)!write(in[1], "exit 0\n", 7);
  });
  sandbox::Result result = sandbox::run(spec, hooks);
  driver.join();
  monitor.stop();
  for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
  EXPECT_EQ(result.exit_code, 0) << result.message;
  // The app got through all 200 listen() calls while nobody took events.
  EXPECT_NE(answer.find("probe churned 200"), std::string::npos) << answer;
  // And nothing was lost: every event came, in order, once released.
  ASSERT_EQ(events.size(), 400u);
  for (size_t i = 0; i < events.size(); i += 2) {
    EXPECT_EQ(events[i].kind, PortEvent::Kind::kOpen);
    EXPECT_EQ(events[i + 1].kind, PortEvent::Kind::kClose);
    EXPECT_EQ(events[i].port.cookie, events[i + 1].port.cookie);
  }
}

}  // namespace
}  // namespace coracle::portmon
