// Every sandbox gets /etc/hostname, /etc/hosts and /etc/resolv.conf, made
// by coracle and bound read-only: exec (--read-only on a rootfs without
// mount points too), steps and build RUN (whose layer keeps none of them);
// --dns and --add-host; name resolution through pasta, the host's loopback
// resolver included.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"
#include "registry_fixture.h"
#include "test_host.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class EtcFiles : public StoreTest {
 protected:
  // A DNS server (tests/fixtures/dns_server.py) for name=addr records.
  Background dns_server(const std::vector<std::string>& prefix, const std::string& ip,
                        const std::vector<std::string>& records) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a :
         {std::string("python3"), std::string(CORACLE_FIXTURES) + "/dns_server.py", ip,
          std::string("53")})
      argv.push_back(a);
    argv.insert(argv.end(), records.begin(), records.end());
    Background b(argv, work.path() + "/dns.log");
    usleep(400000);  // python's start; a query before it would only time out
    return b;
  }
};

TEST_F(EtcFiles, EveryExecGetsItsOwnReadOnly) {
  auto r = cor({"exec", "--hostname", "box", "--add-host", "db:10.9.8.7", "--dns", "10.1.1.1", "--",
                "sh", "-c",
                "cat /etc/hostname; grep -c box /etc/hosts; grep db /etc/hosts; "
                "cat /etc/resolv.conf; echo x >> /etc/hosts || echo read-only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "box\n1\n10.9.8.7\tdb\nnameserver 10.1.1.1\nread-only\n") << r.err;
  // The host's resolvers by default.
  r = cor({"exec", "--net", "host", "--", "grep", "-c", "nameserver", "/etc/resolv.conf"});
  EXPECT_EQ(r.out, "1\n") << r.err;
  // The user's own bind wins.
  write_file_atomic(work.path() + "/hosts", "1.2.3.4 mine\n");
  r = cor({"exec", "-v", work.path() + "/hosts:/etc/hosts:ro", "--", "cat", "/etc/hosts"});
  EXPECT_EQ(r.out, "1.2.3.4 mine\n");
  // A rootfs without /etc gets them too; a read-only one without them runs.
  std::string rootfs = work.path() + "/rootfs";
  run_sh("mkdir -p " + rootfs + "/bin && cp /bin/busybox " + rootfs + "/bin/ && ln -s busybox " +
         rootfs + "/bin/cat");
  r = cor({"exec", "--hostname", "bare", "--rootfs", rootfs, "--", "/bin/cat", "/etc/hostname"});
  EXPECT_EQ(r.out, "bare\n") << r.err;
  EXPECT_FALSE(path_exists(rootfs + "/etc"));  // never written to the rootfs
  // Read-only too, though it has no /proc, /dev or /etc to mount on: the
  // mount points are made beside it, and the rootfs stays read-only.
  run_sh("ln -s busybox " + rootfs + "/bin/sh && ln -s busybox " + rootfs + "/bin/touch");
  r = cor({"exec", "--read-only", "--rootfs", rootfs, "--", "/bin/sh", "-c",
           "cat /etc/hostname; touch /x || echo read-only; touch /tmp/x && echo tmp-writable"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "coracle\nread-only\ntmp-writable\n") << r.err;
  EXPECT_FALSE(path_exists(rootfs + "/etc"));
  EXPECT_FALSE(path_exists(rootfs + "/proc"));
  // Bad values are coracle's failure.
  EXPECT_EQ(cor({"exec", "--add-host", "nocolon", "--", "true"}).exit_code, 125);
  EXPECT_EQ(cor({"exec", "--dns", "not-an-ip", "--", "true"}).exit_code, 125);
}

TEST_F(EtcFiles, PastaResolvesNamesFromTheTestHostsDnsServer) {
  TestHost outside;
  Background dns = dns_server({"ip", "netns", "exec", outside.netns()}, outside.ip(),
                              {"pkg.test=" + outside.ip()});
  auto r = cor(
      {"exec", "--net", "pasta", "--dns", outside.ip(), "--", "nslookup", "-type=a", "pkg.test"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Address: " + outside.ip()), std::string::npos) << r.out;
}

TEST_F(EtcFiles, ALoopbackResolverOfTheHostIsReachedThroughPasta) {
  // The host's resolv.conf names a resolver on its loopback (as with
  // systemd-resolved's 127.0.0.53): the sandbox's own loopback cannot
  // reach it; pasta's forwarding address does. The host's resolv.conf is
  // replaced in a mount namespace of this run only.
  Background dns = dns_server({}, "127.3.4.5", {"loop.test=10.4.4.4"});
  write_file_atomic(work.path() + "/resolv.conf", "nameserver 127.3.4.5\n");
  std::string out =
      run_sh("unshare -m sh -c 'mount --bind " + work.path() + "/resolv.conf /etc/resolv.conf && " +
             CORACLE_BIN + " --root " + store.path() +
             " exec --net pasta -- sh -c \"cat /etc/resolv.conf; nslookup -type=a "
             "loop.test\"' 2>&1");
  EXPECT_NE(out.find("nameserver 169.254.1.1"), std::string::npos) << out;
  EXPECT_NE(out.find("Address: 10.4.4.4"), std::string::npos) << out;
}

TEST_F(EtcFiles, ABuildRunHasThemAndItsLayerKeepsNone) {
  // An image without any of the three files.
  make_layout(work.path() + "/lay", {{"tag", "bare"}, {"layers", {busybox_layer()}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM bare\nRUN cat /etc/resolv.conf /etc/hostname > /seen\nRUN true\n");
  auto r = cor({"build", "-t", "built", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(cor({"image", "unpack", "built", work.path() + "/flat"}).exit_code, 0);
  std::string seen = read_file(work.path() + "/flat/seen");
  EXPECT_NE(seen.find("nameserver"), std::string::npos) << seen;
  EXPECT_NE(seen.find("coracle-build"), std::string::npos) << seen;
  for (const char* f : {"hosts", "hostname", "resolv.conf"})
    EXPECT_FALSE(path_exists(work.path() + "/flat/etc/" + f)) << f;
  // `RUN true` changed nothing: no layer for it (two layers: base and /seen).
  auto inspect = json::parse(cor({"image", "inspect", "built"}).out);
  EXPECT_EQ(inspect["layers"].size(), 2u) << inspect.dump();
}

TEST_F(EtcFiles, AFailedExecThatTriedTheNetworkIsToldWhichFlagGivesIt) {
  // The default network is loopback only. A lookup (the host's resolver,
  // or an unroutable stand-in where it has none the sandbox could use) and
  // a connection out both fail; the command's failure gets one hint.
  TestHost outside;
  for (const std::string& cmd :
       {std::string("nslookup deb.example"), "nc -w 2 " + outside.ip() + " 8080 </dev/null"}) {
    auto r = cor({"exec", "--", "sh", "-c", cmd});
    EXPECT_NE(r.exit_code, 0) << cmd;
    EXPECT_EQ(count_occurrences(r.err, "--net pasta gives it outbound access"), 1)
        << cmd << ": " << r.err;
  }
  // A failure that never touched the network, a success, and a sandbox
  // with outbound access: no hint.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"exec", "--", "sh", "-c", "exit 3"},
        std::vector<std::string>{"exec", "--", "sh", "-c",
                                 "nc -w 1 " + outside.ip() + " 8080 </dev/null; true"},
        std::vector<std::string>{"exec", "--net", "pasta", "--", "sh", "-c",
                                 "nc -w 2 " + outside.ip() + " 1 </dev/null"}}) {
    auto r = cor(args);
    EXPECT_EQ(r.err.find("outbound access"), std::string::npos) << args.back() << ": " << r.err;
  }
  // With --json, a warning event.
  auto j = cor({"exec", "--json", "--", "sh", "-c", "nc -w 2 " + outside.ip() + " 8080"});
  EXPECT_NE(j.out.find(R"("event":"warning")"), std::string::npos) << j.out;
}

TEST_F(EtcFiles, ABuildsRunTrustsWhatTheCallersEnvironmentTrusts) {
  // A proxy that re-signs HTTPS, a company CA: the caller's SSL_CERT_FILE,
  // NODE_EXTRA_CA_CERTS (...) reach RUN as files in no layer; a variable
  // naming anything but certificates gives nothing; the image's own wins.
  std::string ca = work.path() + "/ca.pem", key = work.path() + "/key.pem";
  run_sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-proxy-ca -keyout " +
         key + " -out " + ca + " 2>/dev/null");
  make_layout(work.path() + "/lay", {{"tag", "bare"}, {"layers", {busybox_layer()}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM bare\nENV CURL_CA_BUNDLE=/image/own.pem\n"
                    "RUN (grep -c 'BEGIN CERT' $SSL_CERT_FILE; "
                    "cmp $SSL_CERT_FILE $NODE_EXTRA_CA_CERTS && echo same; "
                    "echo \"curl=$CURL_CA_BUNDLE git=$GIT_SSL_CAINFO\") > /seen\n");
  RunOptions env;
  env.env = {"SSL_CERT_FILE=" + ca, "NODE_EXTRA_CA_CERTS=" + ca, "CURL_CA_BUNDLE=" + ca,
             "GIT_SSL_CAINFO=" + key};
  auto r = cor({"build", "-t", "trusting", ctx}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(cor({"image", "unpack", "trusting", work.path() + "/flat"}).exit_code, 0);
  EXPECT_EQ(read_file(work.path() + "/flat/seen"), "1\nsame\ncurl=/image/own.pem git=\n");
  EXPECT_EQ(run_sh("find " + work.path() + "/flat -name '*coracle-host-ca*'"), "");
}

TEST_F(EtcFiles, ABuildsRunTakesTheCallersDnsAndHostsFlags) {
  make_layout(work.path() + "/lay", {{"tag", "bare"}, {"layers", {busybox_layer()}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM bare\nRUN cat /etc/resolv.conf /etc/hosts > /seen\n");
  auto r = cor({"build", "-t", "built", "--dns", "10.9.9.9", "--dns-search", "corp.example",
                "--dns-option", "ndots:2", "--add-host", "db:10.1.2.3", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(cor({"image", "unpack", "built", work.path() + "/flat"}).exit_code, 0);
  std::string seen = read_file(work.path() + "/flat/seen");
  for (const char* line :
       {"nameserver 10.9.9.9\n", "search corp.example\n", "options ndots:2\n", "10.1.2.3\tdb\n"})
    EXPECT_NE(seen.find(line), std::string::npos) << line << " in " << seen;
  auto bad = cor({"build", "--add-host", "db:nowhere", ctx});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("--add-host"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace coracle::test
