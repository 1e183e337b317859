// A hostile Dockerfile (or a hostile base image's ONBUILD triggers) against
// the builder: the host's network needs the caller's entitlement, and the
// Dockerfile's text and RUN's output reach the terminal only sanitised.
#include <gtest/gtest.h>

#include <cstdio>

#include "build_fixture.h"
#include "harness.h"

namespace coracle::test {
namespace {

// A RUN that succeeds only in the host's network namespace: the test's own
// listener on 127.0.0.1 shows in /proc/net/tcp there and nowhere else.
std::string sees_host_listener(const LoopbackListener& l) {
  char hex[8];
  snprintf(hex, sizeof hex, "%04X", l.port());
  return std::string("grep -q ':") + hex + " 00000000:0000 0A' /proc/net/tcp";
}

TEST_F(BuildTest, RunNetworkHostNeedsTheCallersEntitlement) {
  LoopbackListener host_only;  // a service only the host should reach
  std::string probe = sees_host_listener(host_only);
  write("Dockerfile", "FROM default\nRUN --network=host " + probe + "\n");
  auto r = build({"-t", "tests/net-host"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: RUN --network=host needs the network.host entitlement"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--allow network.host"), std::string::npos) << r.err;
  // Granted, it runs in the host's network (and the probe is sound).
  r = build({"-t", "tests/net-host", "--allow", "network.host"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A base image's ONBUILD trigger takes nothing more than the Dockerfile.
  make_layout(work.path() + "/base", {{"tag", "tests/onbuild-net-host"},
                                      {"layers", {busybox_layer()}},
                                      {"onbuild", {"RUN --network=host " + probe}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/base"}).exit_code, 0);
  write("child/Dockerfile", "FROM tests/onbuild-net-host\nRUN true\n");
  r = build({"-t", "tests/onbuild-net-host-child"}, ctx() + "/child");
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("needs the network.host entitlement"), std::string::npos) << r.err;
  r = build({"-t", "tests/x", "--allow", "network.everything"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--allow network.everything: unknown entitlement"), std::string::npos)
      << r.err;
}

TEST_F(BuildTest, TheDockerfileAndRunOutputReachTheTerminalOnlySanitised) {
  // The instruction's text sets the window title (OSC 0); the RUN writes
  // the clipboard (OSC 52), an 8-bit CSI as UTF-8 (U+009B) and a raw one.
  write("Dockerfile",
        "FROM default\n"
        "RUN echo built # \x1b]0;owned-title\x07\n"
        "RUN printf 'out \\033]52;c;c3RvbGVu\\007 \\302\\23331m c1 \\23332m raw\\n'\n");
  for (const char* progress : {"plain", "tty"}) {
    auto r = build({"-t", "tests/escapes", "--no-cache", "--progress", progress});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // No OSC at all (the tty view's own sequences are CSI), no BEL, no C1.
    EXPECT_EQ(r.err.find("\x1b]"), std::string::npos) << progress;
    EXPECT_EQ(r.err.find("owned-title"), std::string::npos) << progress;
    EXPECT_EQ(r.err.find('\x07'), std::string::npos) << progress;
    EXPECT_EQ(r.err.find("\xc2\x9b"), std::string::npos) << progress;
    EXPECT_EQ(r.err.find('\x9b'), std::string::npos) << progress;
    EXPECT_NE(r.err.find("RUN echo built # "), std::string::npos) << progress << r.err;
    // Plain mode has no escapes of its own: none at all reaches stderr.
    if (std::string(progress) == "plain") {
      EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("?31m c1 ?32m raw"), std::string::npos) << r.err;
    }
  }
}

}  // namespace
}  // namespace coracle::test
