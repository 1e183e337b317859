// `coracle image push` against a real docker-registry on 127.0.0.1
// (registry_fixture.h): monolithic and chunked uploads read back by skopeo
// and by a pull into another store, blobs the registry has skipped, a
// cross-repository mount, basic auth and bearer tokens, TLS with a
// throw-away CA, and clear errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class PushTest : public ::testing::Test {
 protected:
  TempDir work, store, home;
  RunResult cor(std::vector<std::string> args, const std::string& root = "") {
    args.insert(args.begin(), {"--root", root.empty() ? store.path() : root});
    RunOptions o;
    o.home = home.path();
    return coracle(args, o);
  }
  // The umoci test image (busybox + a whiteout layer) in the store as name.
  void import_image(const std::string& name) {
    std::string layout = make_umoci_image(work.path());
    auto r = cor({"image", "import", layout.substr(4, layout.rfind(':') - 4), "--tag", name});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::vector<std::string> kinds(const std::string& out) {
    std::vector<std::string> v;
    for (const auto& line : lines_with(out, "{")) v.push_back(json::parse(line)["event"]);
    return v;
  }
};

TEST_F(PushTest, ChunkedAndMonolithicUploadsAreWhatSkopeoAndAPullRead) {
  RegistryServer reg;
  RegistryProxy proxy(reg.port());  // logs the requests
  import_image("tests/local:1");
  std::string ref = proxy.host() + "/tests/pushed:1";
  // 64 KiB chunks: the busybox layer goes in several PATCHes.
  auto r = cor({"image", "push", "--json", "--chunk-size", "64KiB", "tests/local:1", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto events = kinds(r.out);
  EXPECT_EQ(events.front(), "push.resolved");
  EXPECT_EQ(events.back(), "result");
  EXPECT_EQ(events[events.size() - 2], "push.done");
  std::string digest = json::parse(lines_with(r.out, "{").back())["digest"];
  EXPECT_GT(count_occurrences(proxy.log(), "PATCH /v2/tests/pushed/blobs/uploads/"), 2)
      << proxy.log();
  // The same manifest, byte for byte: skopeo sees the digest coracle has.
  json inspected = json::parse(run_sh("skopeo inspect --tls-verify=false docker://" + ref));
  EXPECT_EQ(inspected["Digest"], digest);
  EXPECT_EQ(json::parse(cor({"image", "inspect", "tests/local:1"}).out)["digest"], digest);
  run_sh("skopeo copy --quiet --src-tls-verify=false docker://" + ref + " oci:" + work.path() +
         "/copied:t");
  // Another store pulls it and runs it.
  TempDir other;
  ASSERT_EQ(cor({"image", "pull", ref}, other.path()).exit_code, 0);
  EXPECT_EQ(cor({"exec", ref}, other.path()).out, "hello");

  // Pushed again under another tag in one PUT per blob: nothing is sent
  // that the repository has.
  r = cor({"image", "push", "--json", "--chunk-size", "0", "tests/local:1",
           proxy.host() + "/tests/pushed:2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  events = kinds(r.out);
  EXPECT_EQ(std::count(events.begin(), events.end(), "push.blob.exists"), 3) << r.out;
  EXPECT_EQ(std::count(events.begin(), events.end(), "push.blob.start"), 0) << r.out;
}

TEST_F(PushTest, BlobsAreMountedFromAnotherRepositoryOfTheRegistry) {
  RegistryServer reg;
  reg.push(make_umoci_image(work.path()), "tests/source:1");
  std::string source = reg.host() + "/tests/source:1";
  ASSERT_EQ(cor({"image", "pull", source}).exit_code, 0);
  // The source's registry is the destination's: the new repository has
  // none of the blobs (HEAD says so), the registry mounts them, none is sent.
  auto r = cor({"image", "push", "--json", source, reg.host() + "/tests/mounted:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto events = kinds(r.out);
  EXPECT_EQ(std::count(events.begin(), events.end(), "push.blob.start"), 0) << r.out;
  run_sh("skopeo inspect --tls-verify=false docker://" + reg.host() + "/tests/mounted:1");
}

TEST_F(PushTest, AuthAndTlsAsForPull) {
  import_image("tests/local:1");
  {
    RegistryServer reg(RegistryServer::Auth::kBasic);
    std::string ref = reg.host() + "/tests/private:1";
    auto r = cor({"image", "push", "tests/local:1", ref});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("coracle login " + reg.host()), std::string::npos) << r.err;
    reg.write_docker_login(home.path());
    r = cor({"image", "push", "tests/local:1", ref});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(
        run_sh("skopeo inspect --tls-verify=false --creds tester:" +
               std::string(RegistryServer::kPassword) + " docker://" + ref + " | grep -c Digest"),
        "1\n");
  }
  {
    // Bearer tokens: the pull token is not enough, a push token is asked.
    RegistryServer reg(RegistryServer::Auth::kToken);
    reg.write_docker_login(home.path());
    auto r = cor({"image", "push", "tests/local:1", reg.host() + "/tests/token:1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  {
    RegistryServer reg(RegistryServer::Auth::kNone, true);
    std::string ref = reg.host() + "/tests/tls:1";
    auto r = cor({"image", "push", "tests/local:1", ref});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("--ca"), std::string::npos) << r.err;
    r = cor({"image", "push", "--ca", reg.ca_file(), "tests/local:1", ref});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST_F(PushTest, ErrorsAreClear) {
  RegistryServer reg;
  auto r = cor({"image", "push", "tests/missing:1", reg.host() + "/tests/x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("tests/missing:1"), std::string::npos) << r.err;
  import_image("tests/local:1");
  r = cor({"image", "push", "tests/local:1", "127.0.0.1:1/tests/x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("cannot reach registry 127.0.0.1:1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test
