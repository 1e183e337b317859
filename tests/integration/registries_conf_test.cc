// registries.conf as podman reads it, against two real registries on
// 127.0.0.1: a mirror that serves pulls of another registry's names (and
// the fallback when it lacks one), short names through
// unqualified-search-registries and aliases (enforcing and permissive),
// blocked and insecure registries, drop-ins, and clear errors for a
// broken file.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "common/fs.h"
#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

class RegistriesConf : public StoreTest {
 protected:
  TempDir home;
  std::string conf() const { return work.path() + "/registries.conf"; }
  RunOptions default_options() override {
    RunOptions o;
    o.home = home.path();
    o.env = {"CONTAINERS_REGISTRIES_CONF=" + conf()};
    return o;
  }
  // The umoci test image (cat /hello prints what) pushed to reg as dest.
  void publish(RegistryServer& reg, const std::string& dest, const std::string& hello) {
    std::string dir = work.path() + "/" + hello;
    mkdir_p(dir);
    reg.push(make_umoci_image(dir, hello), dest);
  }
};

TEST_F(RegistriesConf, AMirrorServesTheNamesOfAnotherRegistryAndTheStoreKeepsTheirName) {
  RegistryServer origin, mirror;
  RegistryProxy origin_log(origin.port()), mirror_log(mirror.port());
  publish(origin, "tests/app:1", "from-origin");
  publish(mirror, "tests/app:1", "from-mirror");
  publish(origin, "tests/only-origin:1", "only-origin");
  write_file_atomic(conf(), "[[registry]]\nprefix = \"" + origin_log.host() +
                                "/tests\"\nlocation = \"" + origin_log.host() +
                                "/tests\"\n[[registry.mirror]]\nlocation = \"" + mirror_log.host() +
                                "/tests\"\n");
  auto r = cor({"image", "pull", origin_log.host() + "/tests/app:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, origin_log.host() + "/tests/app:1\n");  // stored under the name asked for
  EXPECT_NE(mirror_log.log().find("GET /v2/tests/app/manifests/1"), std::string::npos);
  EXPECT_EQ(origin_log.log().find("/v2/tests/app/"), std::string::npos) << origin_log.log();
  EXPECT_EQ(cor({"exec", origin_log.host() + "/tests/app:1"}).out, "from-mirror");
  // What the mirror lacks comes from the registry itself.
  r = cor({"image", "pull", origin_log.host() + "/tests/only-origin:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(origin_log.log().find("GET /v2/tests/only-origin/manifests/1"), std::string::npos);
  EXPECT_EQ(cor({"exec", origin_log.host() + "/tests/only-origin:1"}).out, "only-origin");
  // Neither has it: both are named in the error.
  r = cor({"image", "pull", origin_log.host() + "/tests/nowhere:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("(a mirror)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(origin_log.host() + "/tests/nowhere:1: "), std::string::npos) << r.err;
}

TEST_F(RegistriesConf, ShortNamesFollowTheSearchListAndAliasesAsPodmanDoes) {
  RegistryServer first, second;
  publish(first, "tests/both:1", "both-from-first");
  publish(second, "tests/both:1", "both-from-second");
  publish(second, "tests/second-only:1", "second-only");
  publish(second, "tests/aliased:1", "aliased");
  std::string search =
      "unqualified-search-registries = [\"" + first.host() + "\", \"" + second.host() + "\"]\n";
  // Enforcing (the default) with two registries and no alias: no guess.
  write_file_atomic(conf(), search);
  auto r = cor({"image", "pull", "tests/both:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("could be any of " + first.host() + "/tests/both"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("short-name-mode"), std::string::npos) << r.err;
  // An alias decides.
  write_file_atomic(conf(),
                    search + "[aliases]\n\"shortcut\" = \"" + second.host() + "/tests/aliased\"\n");
  r = cor({"pull", "shortcut:1"});  // podman's word
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, second.host() + "/tests/aliased:1\n");
  EXPECT_EQ(cor({"exec", "shortcut:1"}).out, "aliased");  // found in the store by the alias
  // Permissive: each registry in order; the first that has it wins.
  write_file_atomic(conf(), search + "short-name-mode = \"permissive\"\n");
  r = cor({"image", "pull", "tests/both:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, first.host() + "/tests/both:1\n");
  r = cor({"exec", "tests/second-only:1"});  // pulled as exec needs it
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "second-only");
  EXPECT_NE(cor({"image", "ls"}).out.find(second.host() + "/tests/second-only:1"),
            std::string::npos);
  // One search registry: it is the one, in any mode.
  write_file_atomic(conf(), "unqualified-search-registries = [\"" + second.host() + "\"]\n");
  // The store has first's copy, but the name now means second's.
  r = cor({"exec", "tests/both:1"});
  EXPECT_EQ(r.out, "both-from-second") << r.err;
  EXPECT_NE(cor({"image", "ls"}).out.find(second.host() + "/tests/both:1"), std::string::npos);
}

TEST_F(RegistriesConf, BlockedAndInsecureRegistriesAndDropIns) {
  RegistryServer plain, tls(RegistryServer::Auth::kNone, true);
  publish(plain, "tests/app:1", "plain");
  publish(tls, "tests/app:1", "tls");
  write_file_atomic(conf(), "[[registry]]\nlocation = \"" + plain.host() + "\"\nblocked = true\n");
  auto r = cor({"image", "pull", plain.host() + "/tests/app:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is blocked"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(conf()), std::string::npos) << r.err;
  // A TLS registry with a CA coracle does not know: refused, unless
  // registries.conf marks it insecure (v2), or lists it (v1).
  r = cor({"image", "pull", tls.host() + "/tests/app:1"});
  EXPECT_EQ(r.exit_code, 125);
  write_file_atomic(conf(), "[[registry]]\nlocation = \"" + tls.host() + "\"\ninsecure = true\n");
  r = cor({"image", "pull", tls.host() + "/tests/app:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  write_file_atomic(conf(), "[registries.insecure]\nregistries = [\"" + tls.host() + "\"]\n");
  TempDir other;
  r = coracle({"--root", other.path(), "image", "pull", tls.host() + "/tests/app:1"},
              {.env = {"CONTAINERS_REGISTRIES_CONF=" + conf()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Without CONTAINERS_REGISTRIES_CONF: the user's file and its drop-ins.
  mkdir_p(home.path() + "/.config/containers/registries.conf.d");
  write_file_atomic(home.path() + "/.config/containers/registries.conf",
                    "unqualified-search-registries = [\"" + tls.host() + "\"]\n");
  write_file_atomic(home.path() + "/.config/containers/registries.conf.d/50-mine.conf",
                    "unqualified-search-registries = [\"" + plain.host() + "\"]\n");
  RunOptions o;
  o.home = home.path();
  r = coracle({"--root", other.path(), "exec", "tests/app:1"}, o);
  EXPECT_EQ(r.out, "plain") << r.err;  // the drop-in's list replaced the file's
}

TEST_F(RegistriesConf, ABrokenFileIsNamedWithItsLine) {
  write_file_atomic(conf(), "unqualified-search-registries = [\"a\"]\n[[registry]\nx = 1\n");
  auto r = cor({"image", "pull", "tests/x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(conf() + ":2"), std::string::npos) << r.err;
  write_file_atomic(conf(), "short-name-mode = \"sometimes\"\n");
  r = cor({"image", "pull", "tests/x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(conf() + ":1: short-name-mode must be"), std::string::npos) << r.err;
}

TEST_F(RegistriesConf, TheStoresParsedCopyNeverOutlivesAChangeOfItsFile) {
  // The parsed result is kept in the store (parsing the TOML costs every
  // short-name exec ~0.2 ms); any write to its file must end its use, even
  // one in place that keeps the size and the content.
  const std::string text = "[aliases]\n\"app\" = \"localhost/one\"\n";
  const std::string copy = store.path() + "/cache/registries-conf.json";
  write_file_atomic(conf(), text);
  for (const char* name : {"one", "two"}) {
    std::string dir = work.path() + "/" + name;
    mkdir_p(dir);
    make_umoci_image(dir, name);
    auto r =
        cor({"image", "import", dir + "/layout", "--tag", std::string("localhost/") + name + ":1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A file younger than a second is not kept: a rewrite within the same
  // timestamp tick would look unchanged.
  EXPECT_EQ(cor({"exec", "app:1"}).out, "one");
  EXPECT_FALSE(path_exists(copy));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(cor({"exec", "app:1"}).out, "one");
  ASSERT_TRUE(path_exists(copy));
  // The copy is what later runs use: doctored, it decides.
  std::string kept = read_file(copy);
  auto at = kept.find("localhost/one");
  ASSERT_NE(at, std::string::npos);
  kept.replace(at, 13, "localhost/two");
  write_file_atomic(copy, kept);
  EXPECT_EQ(cor({"exec", "app:1"}).out, "two");
  // Until the file is written again, here in place with the same bytes.
  {
    FILE* f = fopen(conf().c_str(), "r+");
    ASSERT_NE(f, nullptr);
    fputs(text.c_str(), f);
    fclose(f);
  }
  EXPECT_EQ(cor({"exec", "app:1"}).out, "one");
  // A copy that cannot be read is read past.
  write_file_atomic(copy, "{not json");
  auto r = cor({"exec", "app:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "one");
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// Logins as podman and docker keep them: podman's auth.json under
// ~/.config/containers, and docker's credential helpers (credHelpers for
// one registry, credsStore for all) run as `docker-credential-NAME get`.
class Logins : public ::testing::Test {
 protected:
  TempDir work, store, home, bin;
  RegistryServer reg{RegistryServer::Auth::kBasic};
  void SetUp() override {
    reg.push(make_umoci_image(work.path(), "logged-in"), "tests/private:1");
    // A helper that answers for this registry only and logs each question.
    write_file_atomic(bin.path() + "/docker-credential-coracle-test",
                      "#!/bin/sh\nread server\necho \"$1 $server\" >> " + work.path() +
                          "/helper.log\n"
                          "if [ \"$server\" = \"" +
                          reg.host() +
                          "\" ]; then\n  echo '{\"ServerURL\":\"'$server'\",\"Username\":\"" +
                          RegistryServer::kUser + "\",\"Secret\":\"" + RegistryServer::kPassword +
                          "\"}'\nelse\n  echo 'credentials not found in native keychain'\n"
                          "  exit 1\nfi\n",
                      0755);
  }
  RunResult pull() {
    RunOptions o;
    o.home = home.path();
    o.env = {"PATH=" + bin.path() + ":/usr/sbin:/usr/bin:/sbin:/bin", "XDG_RUNTIME_DIR=",
             "REGISTRY_AUTH_FILE=", "DOCKER_CONFIG=", "CONTAINERS_REGISTRIES_CONF=/dev/null"};
    TempDir s;
    return coracle({"--root", s.path(), "image", "pull", reg.host() + "/tests/private:1"}, o);
  }
};

TEST_F(Logins, WithoutALoginThePullIsRefused) {
  auto r = pull();
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("requires a login"), std::string::npos) << r.err;
}

TEST_F(Logins, PodmansPersistentAuthFile) {
  mkdir_p(home.path() + "/.config/containers");
  reg.write_docker_login(home.path());  // docker's layout ...
  run_sh("mv " + home.path() + "/.docker/config.json " + home.path() +
         "/.config/containers/auth.json");  // ... in podman's place
  auto r = pull();
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Logins, ADockerCredentialHelperForTheRegistry) {
  mkdir_p(home.path() + "/.docker");
  write_file_atomic(home.path() + "/.docker/config.json",
                    R"({"credHelpers": {")" + reg.host() + R"(": "coracle-test"}})");
  auto r = pull();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(work.path() + "/helper.log").find("get " + reg.host()), std::string::npos);
}

TEST_F(Logins, ADockerCredentialStoreForEveryRegistry) {
  mkdir_p(home.path() + "/.docker");
  write_file_atomic(home.path() + "/.docker/config.json",
                    R"({"auths": {")" + reg.host() + R"(": {}}, "credsStore": "coracle-test"})");
  auto r = pull();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A store that has nothing for a registry: no login, not an error.
  write_file_atomic(home.path() + "/.docker/config.json", R"({"credsStore": "coracle-test"})");
  RunOptions o;
  o.home = home.path();
  o.env = {"PATH=" + bin.path() + ":/usr/bin:/bin", "XDG_RUNTIME_DIR=", "DOCKER_CONFIG="};
  TempDir s;
  write_file_atomic(work.path() + "/registries.conf", "");
  make_layout(work.path() + "/local", {{"tag", "t"}, {"layers", {busybox_layer()}}});
  RegistryServer open;
  open.push("oci:" + work.path() + "/local:t", "tests/open:1");
  r = coracle({"--root", s.path(), "image", "pull", open.host() + "/tests/open:1"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A helper that is not there is named.
  write_file_atomic(home.path() + "/.docker/config.json", R"({"credsStore": "not-installed"})");
  r = pull();
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("docker-credential-not-installed"), std::string::npos) << r.err;
}

TEST_F(Logins, AFailingHelpersStdoutIsNeverQuoted) {
  // It printed the secret half way, then failed: its stderr is what the
  // user may see, its stdout never.
  write_file_atomic(bin.path() + "/docker-credential-leaky",
                    "#!/bin/sh\nread server\necho '{\"Secret\": \"hunter2-leaked\"'\n"
                    "echo 'keychain locked' >&2\nexit 3\n",
                    0755);
  mkdir_p(home.path() + "/.docker");
  write_file_atomic(home.path() + "/.docker/config.json", R"({"credsStore": "leaky"})");
  auto r = pull();
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("hunter2-leaked"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("docker-credential-leaky get failed (exit status 3): keychain locked"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace coracle::test
