// `coracle image pull`, `login` and `exec` of a missing image against a
// real docker-registry on 127.0.0.1 (registry_fixture.h): plain, basic
// auth, bearer tokens, TLS with a throw-away CA; images made by umoci and
// pushed by skopeo; a tampered blob, a cut transfer, concurrent pulls and a
// kill -9 mid-pull.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class PullTest : public StoreTest {
 protected:
  TempDir home;
  RunOptions opts() {
    RunOptions o;
    o.home = home.path();
    return o;
  }
  RunOptions default_options() override { return opts(); }
  bool has_tag(const std::string& name) {
    auto r = cor({"image", "ls", "--json"});
    for (const auto& e : json::parse(r.out))
      if (e["name"] == name) return true;
    return false;
  }
  // Every blob in the store hashes to its name: nothing half-written.
  void expect_blobs_whole() {
    std::string dir = store.path() + "/oci/blobs/sha256";
    DIR* d = opendir(dir.c_str());
    ASSERT_NE(d, nullptr);
    while (auto* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      EXPECT_EQ(sha256_digest(read_file(dir + "/" + e->d_name)),
                std::string("sha256:") + e->d_name);
    }
    closedir(d);
  }
};

// A layout with a busybox layer and a layer of `mib` MiB of random bytes;
// returns the big layer's digest.
std::string make_big_image(const std::string& dir, int mib) {
  run_sh("head -c " + std::to_string(mib) + "M /dev/urandom > " + dir + "/random");
  json top = json::array({{{"name", "random"}, {"source", dir + "/random"}}});
  make_layout(dir + "/big",
              {{"tag", "t"}, {"layers", {busybox_layer(), top}}, {"cmd", {"/bin/sh"}}});
  json index = json::parse(read_file(dir + "/big/index.json"));
  std::string m = index["manifests"][0]["digest"];
  json manifest = json::parse(read_file(dir + "/big/blobs/sha256/" + m.substr(7)));
  return manifest["layers"][1]["digest"];
}

std::vector<pid_t> child_pids(pid_t parent) {
  // Children are listed per thread that forked them.
  std::vector<pid_t> out;
  std::string tasks = "/proc/" + std::to_string(parent) + "/task";
  DIR* d = opendir(tasks.c_str());
  if (!d) return out;
  while (auto* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(tasks + "/" + e->d_name + "/children"));
    pid_t p;
    while (in >> p) out.push_back(p);
  }
  closedir(d);
  return out;
}

TEST_F(PullTest, UmociImageRunsWithItsWhiteoutsAndStoreIsReadableByUmociAndSkopeo) {
  RegistryServer reg;
  reg.push(make_umoci_image(work.path()), "tests/umoci:1");
  auto r = cor({"image", "pull", "--json", reg.host() + "/tests/umoci:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Events, in order: resolved, per-blob events, done.
  std::vector<std::string> events;
  for (const auto& line : lines_with(r.out, "{")) events.push_back(json::parse(line)["event"]);
  ASSERT_GE(events.size(), 5u) << r.out;
  EXPECT_EQ(events.front(), "pull.resolved");
  EXPECT_EQ(events.back(), "result");
  EXPECT_EQ(events[events.size() - 2], "pull.done");
  EXPECT_EQ(std::count(events.begin(), events.end(), "pull.blob.done"), 3) << r.out;

  r = cor({"exec", reg.host() + "/tests/umoci:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello");
  r = cor({"exec", reg.host() + "/tests/umoci:1", "--", "sh", "-c",
           "test -e /gone && echo gone-still-there; ls /dir"});
  EXPECT_EQ(r.out, "new\n") << r.err;

  // On a terminal: a bar per blob, redrawn in place.
  std::string tty = run_sh("script -qec '" + std::string(CORACLE_BIN) + " --root " + work.path() +
                           "/tty-store image pull " + reg.host() + "/tests/umoci:1' /dev/null");
  EXPECT_NE(tty.find("\033["), std::string::npos) << tty;
  // A full bar (its length is what the terminal's width leaves).
  EXPECT_TRUE(std::regex_search(tty, std::regex(R"(\[#{5,}\] +1\.0 MiB / 1\.0 MiB)"))) << tty;
  EXPECT_NE(tty.find("pulled " + reg.host() + "/tests/umoci:1"), std::string::npos) << tty;

  // A second pull finds everything present.
  r = cor({"image", "pull", "--json", reg.host() + "/tests/umoci:1"});
  EXPECT_EQ(count_occurrences(r.out, "pull.blob.exists"), 3) << r.out;
  EXPECT_EQ(count_occurrences(r.out, "pull.blob.done"), 0) << r.out;

  // umoci and skopeo read what coracle pulled.
  std::string name = reg.host() + "/tests/umoci:1";
  run_sh("umoci unpack --image '" + store.path() + "/oci:" + name + "' " + work.path() + "/check");
  EXPECT_EQ(read_file(work.path() + "/check/rootfs/hello"), "hello");
  run_sh("skopeo copy --quiet 'oci:" + store.path() + "/oci:" + name + "' dir:" + work.path() +
         "/dir");
  // And coracle's image goes back into a registry through skopeo.
  reg.push("'oci:" + store.path() + "/oci:" + name + "'", "tests/again:1");
  r = cor({"exec", reg.host() + "/tests/again:1"});
  EXPECT_EQ(r.out, "hello") << r.err;
}

TEST_F(PullTest, DockerSchema2AndPlatformIndex) {
  RegistryServer reg;
  std::string src = make_umoci_image(work.path());
  reg.push(src, "tests/v2s2:1", "--format v2s2");
  auto r = cor({"image", "pull", reg.host() + "/tests/v2s2:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", reg.host() + "/tests/v2s2:1"});
  EXPECT_EQ(r.out, "hello") << r.err;
  auto inspect = json::parse(cor({"image", "inspect", reg.host() + "/tests/v2s2:1"}).out);
  EXPECT_EQ(inspect["mediaType"], "application/vnd.oci.image.manifest.v1+json");

  // An index with an amd64 and an arm64 image: --platform chooses.
  for (const char* arch : {"amd64", "arm64"}) {
    make_layout(work.path() + "/" + arch, {{"tag", "t"},
                                           {"layers", {busybox_layer()}},
                                           {"architecture", arch},
                                           {"cmd", {"/bin/echo", arch}}});
  }
  std::string multi = work.path() + "/multi";
  run_sh("mkdir -p " + multi + "/blobs/sha256 && cp -n " + work.path() + "/amd64/blobs/sha256/* " +
         work.path() + "/arm64/blobs/sha256/* " + multi + "/blobs/sha256/ && cp " + work.path() +
         "/amd64/oci-layout " + multi + "/");
  json inner = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests", json::array()}};
  for (const char* arch : {"amd64", "arm64"}) {
    json d = json::parse(read_file(work.path() + "/" + arch + "/index.json"))["manifests"][0];
    d.erase("annotations");
    d["platform"] = {{"os", "linux"}, {"architecture", arch}};
    inner["manifests"].push_back(d);
  }
  std::string text = inner.dump();
  std::string digest = sha256_digest(text);
  write_file_atomic(multi + "/blobs/sha256/" + digest.substr(7), text);
  json outer = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                   {"digest", digest},
                   {"size", text.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", "t"}}}}}}};
  write_file_atomic(multi + "/index.json", outer.dump());
  reg.push("oci:" + multi + ":t", "tests/multi:1", "--all");
  r = cor({"image", "pull", "--platform", "linux/arm64", reg.host() + "/tests/multi:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  inspect = json::parse(cor({"image", "inspect", reg.host() + "/tests/multi:1"}).out);
  EXPECT_EQ(inspect["config"]["architecture"], "arm64");
  r = cor({"image", "pull", reg.host() + "/tests/multi:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", reg.host() + "/tests/multi:1"}).out, "amd64\n");
  // The same as a Docker manifest list.
  reg.push("oci:" + multi + ":t", "tests/list:1", "--all --format v2s2");
  EXPECT_NE(
      run_sh("skopeo inspect --raw --tls-verify=false docker://" + reg.host() + "/tests/list:1")
          .find("application/vnd.docker.distribution.manifest.list.v2+json"),
      std::string::npos);
  r = cor({"image", "pull", "--platform", "linux/arm64", reg.host() + "/tests/list:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", reg.host() + "/tests/list:1"}).out, "arm64\n");
  r = cor({"image", "pull", "--platform", "linux/s390x", reg.host() + "/tests/multi:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("linux/arm64"), std::string::npos) << r.err;  // says what there is
}

TEST_F(PullTest, ZstdLayers) {
  RegistryServer reg;
  std::string src = make_umoci_image(work.path(), "zstd layers");
  reg.push(src, "tests/zstd:1", "--dest-compress-format zstd --dest-compress");
  std::string ref = reg.host() + "/tests/zstd:1";
  auto r = cor({"image", "pull", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto inspect = json::parse(cor({"image", "inspect", ref}).out);
  EXPECT_EQ(inspect["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
  r = cor({"exec", ref, "--", "sh", "-c", "cat /hello; ls /dir"});
  EXPECT_EQ(r.out, "zstd layersnew\n") << r.err;
}

TEST_F(PullTest, BasicAuthLoginAndDockerConfig) {
  RegistryServer reg(RegistryServer::Auth::kBasic);
  reg.push(make_umoci_image(work.path()), "tests/private:1");
  std::string ref = reg.host() + "/tests/private:1";
  auto r = cor({"image", "pull", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("coracle login " + reg.host()), std::string::npos) << r.err;

  // A wrong password is refused and saves nothing.
  std::string auth_file = work.path() + "/auth.json";
  RunOptions o = opts();
  o.env.push_back("REGISTRY_AUTH_FILE=" + auth_file);
  r = cor({"login", reg.host(), "-u", "tester", "-p", "wrong"}, o);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  struct stat st;
  EXPECT_NE(stat(auth_file.c_str(), &st), 0);

  r = cor({"login", reg.host(), "-u", "tester", "-p", RegistryServer::kPassword}, o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(stat(auth_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  r = cor({"image", "pull", ref}, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cor({"logout", reg.host()}, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  cor({"image", "rm", ref});
  EXPECT_EQ(cor({"image", "pull", ref}, o).exit_code, 125);

  // Docker's config.json is read too.
  reg.write_docker_login(home.path());
  r = cor({"image", "pull", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(PullTest, BearerTokenAuth) {
  RegistryServer reg(RegistryServer::Auth::kToken);
  reg.push(make_umoci_image(work.path()), "tests/token:1");
  std::string ref = reg.host() + "/tests/token:1";
  auto r = cor({"image", "pull", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("coracle login"), std::string::npos) << r.err;
  r = cor({"login", reg.host(), "-u", "tester", "--password-stdin"}, opts());
  EXPECT_EQ(r.exit_code, 125);  // stdin is /dev/null: no password
  r = cor({"login", reg.host(), "-u", "tester", "-p", RegistryServer::kPassword});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(home.path() + "/.docker/config.json").find(reg.host()), std::string::npos);
  r = cor({"image", "pull", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", ref}).out, "hello");
}

TEST_F(PullTest, TlsWithThrowAwayCa) {
  RegistryServer reg(RegistryServer::Auth::kNone, true);
  reg.push(make_umoci_image(work.path()), "tests/tls:1");
  std::string ref = reg.host() + "/tests/tls:1";
  auto r = cor({"image", "pull", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--ca"), std::string::npos) << r.err;
  EXPECT_FALSE(has_tag(ref));
  r = cor({"image", "pull", "--ca", reg.ca_file(), ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  cor({"image", "rm", ref});
  r = cor({"image", "pull", "--insecure", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(PullTest, TamperedBlobInRegistryIsRefused) {
  RegistryServer reg;
  std::string big = make_big_image(work.path(), 1);
  reg.push("oci:" + work.path() + "/big:t", "tests/tampered:1");
  // Same size, one byte different: only the digest can tell.
  std::string path = reg.blob_path(big);
  std::string data = read_file(path);
  data[data.size() / 2] ^= 0x55;
  write_file_atomic(path, data);
  std::string ref = reg.host() + "/tests/tampered:1";
  auto r = cor({"image", "pull", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(big), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tampered"), std::string::npos) << r.err;
  EXPECT_FALSE(has_tag(ref));
  struct stat st;
  EXPECT_NE(stat((store.path() + "/oci/blobs/sha256/" + big.substr(7)).c_str(), &st), 0);
  expect_blobs_whole();
}

TEST_F(PullTest, AFailedPullLeavesTheStoreAsItFoundIt) {
  // A store with an image in it already.
  make_layout(work.path() + "/small", {{"tag", "small"}, {"layers", {busybox_layer()}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/small"}).exit_code, 0);
  auto listing = [&] {
    return run_sh("cd " + store.path() + " && ls oci/blobs/sha256 locks; cat oci/index.json");
  };
  std::string before = listing();
  RegistryServer reg;
  std::string big = make_big_image(work.path(), 1);
  reg.push("oci:" + work.path() + "/big:t", "tests/tampered:2");
  std::string path = reg.blob_path(big);
  std::string whole = read_file(path), data = whole;
  data[data.size() / 2] ^= 0x55;
  write_file_atomic(path, data);
  // The config and the busybox layer arrive whole; the big layer does not.
  auto r = cor({"image", "pull", reg.host() + "/tests/tampered:2"});
  ASSERT_EQ(r.exit_code, 125);
  EXPECT_EQ(listing(), before);
  // A pull that works leaves no download locks either.
  write_file_atomic(path, whole);
  r = cor({"image", "pull", reg.host() + "/tests/tampered:2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run_sh("ls " + store.path() + "/locks | grep -c '^blob-' || true"), "0\n");
}

TEST_F(PullTest, CutTransferIsResumedWithRange) {
  RegistryServer reg;
  std::string big = make_big_image(work.path(), 4);
  reg.push("oci:" + work.path() + "/big:t", "tests/cut:1");
  RegistryProxy proxy(reg.port(), 1 << 20);
  std::string ref = proxy.host() + "/tests/cut:1";
  auto r = cor({"image", "pull", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err << proxy.log();
  std::string log = proxy.log();
  EXPECT_NE(log.find("CUT"), std::string::npos) << log;
  EXPECT_NE(log.find("Range: bytes="), std::string::npos) << log;
  EXPECT_EQ(count_occurrences(log, "GET /v2/tests/cut/blobs/" + big), 2) << log;
  r = cor({"exec", ref, "--", "sh", "-c", "test -s /random && echo ok"});
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

TEST_F(PullTest, ConcurrentPullsBothSucceedAndDownloadOnce) {
  RegistryServer reg;
  std::string big = make_big_image(work.path(), 4);
  reg.push("oci:" + work.path() + "/big:t", "tests/twice:1");
  RegistryProxy proxy(reg.port(), 0, 8 << 20);  // ~0.5 s per pull: they overlap
  std::string ref = proxy.host() + "/tests/twice:1";
  RunResult a, b;
  std::thread t1([&] { a = cor({"image", "pull", ref}); });
  std::thread t2([&] { b = cor({"image", "pull", ref}); });
  t1.join();
  t2.join();
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(count_occurrences(proxy.log(), "GET /v2/tests/twice/blobs/" + big), 1) << proxy.log();
  EXPECT_TRUE(has_tag(ref));
  expect_blobs_whole();
}

TEST_F(PullTest, KillDuringPullThenPullAgain) {
  RegistryServer reg;
  std::string big = make_big_image(work.path(), 8);
  reg.push("oci:" + work.path() + "/big:t", "tests/killed:1");
  RegistryProxy proxy(reg.port(), 0, 2 << 20);  // 4 s for the big layer
  std::string ref = proxy.host() + "/tests/killed:1";
  int out = -1;
  pid_t pid = spawn_coracle({"--root", store.path(), "image", "pull", ref}, &out, opts());
  for (int i = 0; i < 200 && proxy.log().find("blobs/" + big) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Meanwhile: the network code runs from a memfd, as nobody, with
  // no_new_privs; coracle itself stays root.
  int fetchers = 0;
  for (const auto& child : child_pids(pid)) {
    char exe[256] = {};
    if (readlink(("/proc/" + std::to_string(child) + "/exe").c_str(), exe, sizeof exe - 1) < 0 ||
        std::string(exe).rfind("/memfd:coracle-fetch", 0) != 0)
      continue;
    ++fetchers;
    std::string status = read_file("/proc/" + std::to_string(child) + "/status");
    EXPECT_EQ(status_field(status, "Uid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(status_field(status, "Groups"), "");
    EXPECT_EQ(status_field(status, "NoNewPrivs"), "1");
    EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000");
  }
  EXPECT_GE(fetchers, 1);
  kill(pid, SIGKILL);
  wait_coracle(pid);
  close(out);
  EXPECT_FALSE(has_tag(ref));
  expect_blobs_whole();
  struct stat st;
  EXPECT_NE(stat((store.path() + "/oci/blobs/sha256/" + big.substr(7)).c_str(), &st), 0);
  // The next pull (straight from the registry) completes the image.
  auto r = cor({"image", "pull", reg.host() + "/tests/killed:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_blobs_whole();
}

TEST_F(PullTest, ExecPullsAMissingImage) {
  RegistryServer reg;
  reg.push(make_umoci_image(work.path(), "pulled by exec"), "tests/lazy:1");
  std::string ref = reg.host() + "/tests/lazy:1";
  auto r = cor({"exec", "--pull", "never", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("coracle image pull"), std::string::npos) << r.err;
  r = cor({"exec", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "pulled by exec");
  EXPECT_NE(r.err.find("pulled " + ref), std::string::npos) << r.err;
}

TEST_F(PullTest, RegistryErrorsAreClear) {
  RegistryServer reg;
  auto r = cor({"image", "pull", reg.host() + "/tests/none:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("tests/none:1 is not in registry"), std::string::npos) << r.err;
  int closed = free_port();
  r = cor({"image", "pull", "127.0.0.1:" + std::to_string(closed) + "/x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("cannot reach registry 127.0.0.1:" + std::to_string(closed)),
            std::string::npos)
      << r.err;
  // A manifest with a layer type nobody can unpack (PUT by hand: skopeo
  // would not write it), and a blob the registry has lost half of.
  make_layout(work.path() + "/lay", {{"tag", "t"}, {"layers", {busybox_layer()}}});
  reg.push("oci:" + work.path() + "/lay:t", "tests/weird:0");
  json index = json::parse(read_file(work.path() + "/lay/index.json"));
  std::string digest = index["manifests"][0]["digest"];
  json manifest = json::parse(read_file(work.path() + "/lay/blobs/sha256/" + digest.substr(7)));
  std::string layer = manifest["layers"][0]["digest"];
  manifest["layers"][0]["mediaType"] = "application/x-weird";
  write_file_atomic(work.path() + "/weird.json", manifest.dump());
  run_sh("python3 -c \"import urllib.request as u; u.urlopen(u.Request('http://" + reg.host() +
         "/v2/tests/weird/manifests/1', data=open('" + work.path() +
         "/weird.json','rb').read(), method='PUT', headers={'Content-Type': "
         "'application/vnd.oci.image.manifest.v1+json'}))\"");
  r = cor({"image", "pull", reg.host() + "/tests/weird:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("application/x-weird"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  std::string data = read_file(reg.blob_path(layer));
  write_file_atomic(reg.blob_path(layer), data.substr(0, data.size() / 2));
  r = cor({"image", "pull", reg.host() + "/tests/weird:0"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  EXPECT_FALSE(has_tag(reg.host() + "/tests/weird:0"));

  // A host without libcurl: only pulls need it, and the message says so.
  std::string out = run_sh(
      "unshare -m sh -c 'mount --bind /dev/null \"$(realpath "
      "/usr/lib/x86_64-linux-gnu/libcurl.so.4)\" && " +
      std::string(CORACLE_BIN) + " --root " + store.path() + " image pull " + reg.host() +
      "/tests/none:1; echo rc=$?'");
  EXPECT_NE(out.find("this host lacks libcurl"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=125"), std::string::npos) << out;

  r = cor({"image", "pull", "Bad::Ref"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("invalid image reference"), std::string::npos) << r.err;
}

TEST_F(PullTest, AChallengeThatIsNotUtf8IsStillALoginToAskFor) {
  // A registry whose 401 carries a byte that is not UTF-8 (0xff) in its
  // WWW-Authenticate header: the fetcher reports it, it does not die.
  int port = free_port();
  write_file_atomic(work.path() + "/challenge.py", R"PY(
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="caf\xff"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
)PY");
  Background server({"python3", work.path() + "/challenge.py", std::to_string(port)},
                    work.path() + "/challenge.log");
  ASSERT_TRUE(wait_for_port(port));
  auto r = cor({"image", "pull", "127.0.0.1:" + std::to_string(port) + "/tests/private:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("requires a login"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("stopped unexpectedly"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test
