// What a sandbox's connections through pasta must do as they do on the
// host: a server's close reaches the client. Debian 12's pasta lost it
// (a client reading to the end hung in most tries): coracle runs its own
// build (third_party/passt), and this keeps trying.
#include <gtest/gtest.h>

#include "common/fs.h"
#include "harness.h"
#include "test_host.h"

namespace coracle::test {
namespace {

// On the test host: accepts, writes a line, closes; again and again.
constexpr const char* kLineAndClose =
    "import socket\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 7000))\n"
    "s.listen(64)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'hello\\n')\n"
    "    c.close()\n";

TEST(Pasta, AServersCloseReachesTheClientEveryTime) {
  TestHost outside;
  TempDir work;
  Background server({"ip", "netns", "exec", outside.netns(), "python3", "-c", kLineAndClose},
                    work.path() + "/server.log");
  ASSERT_TRUE(wait_for_address(outside.ip(), 7000));
  // nc reads until the server closes; --timeout is the hang's bound.
  int ended = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = coracle({"exec", "--net", "pasta", "--timeout", "5s", "--", "nc", outside.ip(),
                      "7000"});
    if (r.exit_code == 0 && r.out == "hello\n") ++ended;
    else ADD_FAILURE() << "try " << i << ": exit " << r.exit_code << ", " << r.out << r.err;
  }
  EXPECT_EQ(ended, 20);
}

TEST(Pasta, ATerminalsCtrlCReachesTheCommandAndLeavesItsNetwork) {
  // A terminal's SIGINT goes to the whole foreground process group: the
  // command gets it from coracle, and pasta (a group of its own) keeps
  // the network the command's handler then uses.
  TestHost outside;
  outside.serve("after-int", "still online\n");
  std::string handler = "trap '" + outside.fetch_command("after-int") + "; exit 4' INT; "
                        "echo up; while :; do sleep 0.1; done";
  std::string out = run_sh(
      "python3 - <<'PY'\n"
      "import subprocess, os, signal\n"
      "p = subprocess.Popen(['" + std::string(CORACLE_BIN) + "', 'exec', '--net', 'pasta', '--', "
      "'sh', '-c', \"" + handler + "\"], stdout=subprocess.PIPE, start_new_session=True)\n"
      "up = p.stdout.readline().decode().strip()\n"
      "os.killpg(p.pid, signal.SIGINT)\n"
      "rest = p.stdout.read().decode().strip()\n"
      "print(up, rest, p.wait())\n"
      "PY\n");
  EXPECT_EQ(out, "up still online 4\n");
}

TEST(Pasta, CoraclesOwnBuildIsTheOneRun) {
  // The packaged pasta is on the PATH too; coracle's (BUILD/libexec) wins.
  std::string libexec = std::string(CORACLE_BUILD_DIR) + "/libexec/coracle/pasta";
  ASSERT_TRUE(path_exists(libexec)) << libexec;
  // While a sandbox with pasta runs, its pasta's command line is seen.
  std::string seen = run_sh("(" + std::string(CORACLE_BIN) +
                            " exec --net pasta -- sleep 2 & sleep 1; ps -eo args | grep -v grep | "
                            "grep -c '^" + std::string(CORACLE_BUILD_DIR) +
                            "/libexec/coracle/pasta'; wait)");
  EXPECT_EQ(seen.substr(0, 2), "1\n") << seen;
}

}  // namespace
}  // namespace coracle::test
