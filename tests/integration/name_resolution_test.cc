// Names resolve through pasta for every layout of the host's resolvers, as
// glibc asks them (a connected UDP socket that drops a reply from any other
// address): against a test host's DNS server, with the host's resolv.conf
// replaced in a mount namespace of the run; and against this machine as it
// is (its own resolver, the package mirror its apt uses) with a real Debian
// from debootstrap: `apt-get update` in `exec --net pasta` and in a build's
// RUN.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.h"
#include "harness.h"
#include "test_host.h"

namespace coracle::test {
namespace {

class NameResolution : public StoreTest {
 protected:
  const DebianFixture& debian = debian_fixture();

  void SetUp() override {
    if (!debian.skip.empty()) GTEST_SKIP() << debian.skip;
  }
  // coracle with /etc/resolv.conf replaced by text, in a mount namespace
  // of this run only; its output and stderr together.
  std::string with_resolv_conf(const std::string& text, const std::string& args) {
    write_file_atomic(work.path() + "/resolv.conf", text);
    return run_sh("unshare -m sh -c 'mount --bind " + work.path() +
                  "/resolv.conf /etc/resolv.conf && " + CORACLE_BIN + " --root " + store.path() +
                  " " + args + "' 2>&1; echo exit=$?");
  }
  Background dns_server(const std::vector<std::string>& prefix, const std::string& ip,
                        const std::string& record) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a :
         {std::string("python3"), std::string(CORACLE_FIXTURES) + "/dns_server.py", ip,
          std::string("53"), record})
      argv.push_back(a);
    Background b(argv, work.path() + "/dns.log");
    usleep(400000);  // python's start; a query before it would only time out
    return b;
  }
  // Whether getent printed ip as name's address ("IP  STREAM NAME").
  static bool answered(const std::string& out, const std::string& ip, const std::string& name) {
    for (const auto& line : lines_with(out, ip + " "))
      if (line.find(" STREAM " + name) != std::string::npos) return true;
    return false;
  }
  // The mirror's host name, from its URL.
  std::string mirror_host() const {
    std::string rest = debian.mirror.substr(debian.mirror.find("://") + 3);
    return rest.substr(0, rest.find_first_of(":/"));
  }
};

TEST_F(NameResolution, GlibcAsksTheHostsOwnResolverOnItsNetworkWithItsSearchDomain) {
  // The host's resolver is on its network, not its loopback (this VM's, a
  // cloud's, a LAN's): the sandbox asks it straight, and the reply must
  // come from the address asked.
  TestHost outside;
  Background dns = dns_server({"ip", "netns", "exec", outside.netns()}, outside.ip(),
                              "pkg.test=" + outside.ip());
  std::string out = with_resolv_conf(
      "search test\noptions timeout:2 attempts:2\nnameserver " + outside.ip() + "\n",
      "exec --net pasta --rootfs " + debian.rootfs +
          " -- sh -c \"cat /etc/resolv.conf; getent ahostsv4 pkg\"");
  EXPECT_NE(out.find("nameserver " + outside.ip()), std::string::npos) << out;
  EXPECT_TRUE(answered(out, outside.ip(), "pkg.test")) << out;
  EXPECT_NE(out.find("exit=0"), std::string::npos) << out;
}

TEST_F(NameResolution, GlibcReachesALoopbackResolverThroughPastasForwarding) {
  // systemd-resolved's layout: a stub on the host's loopback first, a
  // second resolver on the network after it (never asked here).
  TestHost outside;
  Background dns = dns_server({}, "127.3.4.6", "loop.test=10.4.4.6");
  std::string out =
      with_resolv_conf("nameserver 127.3.4.6\nnameserver " + outside.ip() +
                           "\noptions edns0 timeout:2\nsearch test\n",
                       "exec --net pasta --rootfs " + debian.rootfs +
                           " -- sh -c \"cat /etc/resolv.conf; getent ahostsv4 loop\"");
  EXPECT_NE(out.find("nameserver 169.254.1.1\nnameserver " + outside.ip()), std::string::npos)
      << out;
  EXPECT_TRUE(answered(out, "10.4.4.6", "loop.test")) << out;
  EXPECT_NE(out.find("exit=0"), std::string::npos) << out;
}

TEST_F(NameResolution, AptGetUpdateInExecThroughPastaOnThisMachine) {
  // This machine as it is: its resolv.conf, its resolver, its mirror.
  auto r = cor({"exec", "--net", "pasta", "--rootfs", debian.rootfs, "--", "sh", "-c",
                "getent ahosts " + mirror_host() + " >/dev/null && apt-get update --error-on=any"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Reading package lists"), std::string::npos) << r.out;
  for (const char* failure : {"Temporary failure resolving", "Failed to fetch"})
    EXPECT_EQ((r.out + r.err).find(failure), std::string::npos) << r.out << r.err;
}

TEST_F(NameResolution, AptGetInABuildsRunOnThisMachine) {
  ASSERT_EQ(cor({"image", "import", debian.archive, "--tag", "coracle-test/debian:12"}).exit_code,
            0);
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(
      ctx + "/Dockerfile",
      "FROM coracle-test/debian:12\n"
      "RUN apt-get update --error-on=any && apt-get install -y -q --no-install-recommends hello\n"
      "RUN hello > /greeting\n");
  auto r = cor({"build", "--progress", "plain", "-t", "hello-apt", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = cor({"exec", "hello-apt", "--", "cat", "/greeting"});
  EXPECT_EQ(run.out, "Hello, world!\n") << run.err;
}

}  // namespace
}  // namespace coracle::test
