// The builder's cache and its interop: an unchanged rebuild runs no
// sandbox and writes no layer (and gives the same image); a touched file
// outside the copied ones changes nothing; a changed COPY source reruns
// that step and the ones after it only; build args in scope are part of a
// RUN's key. Built images are read by umoci and skopeo, and a FROM that
// is only in a registry is pulled.
#include "build_fixture.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

class BuildCacheTest : public BuildTest {
 protected:
  // Each RUN leaves a random token: a step that really ran has a new one.
  void write_five_steps() {
    write("Dockerfile", R"(FROM default
ARG FLAVOUR=plain
RUN head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > /token1
COPY app/ /app/
RUN head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > /token2 && echo $FLAVOUR > /flavour
CMD ["cat", "/token1", "/token2"]
)");
    write("app/main.txt", "version 1\n");
    write("unrelated.txt", "not copied\n");
  }
  struct Built {
    int exit_code;
    std::string digest, tokens, err;
    int cached;
    std::vector<std::string> cached_steps;
  };
  Built build_json(std::vector<std::string> extra = {}) {
    extra.push_back("--json");
    extra.push_back("-t");
    extra.push_back("tests/cache");
    auto r = build(extra);
    Built b{r.exit_code, "", "", r.err, 0, {}};
    if (r.exit_code != 0) return b;
    auto done = events(r.out, "result");
    EXPECT_EQ(done.size(), 1u) << r.out;
    if (done.empty()) return b;
    b.digest = done[0]["digest"];
    b.cached = done[0]["cached_steps"];
    for (const auto& e : events(r.out, "build.cached")) b.cached_steps.push_back(e["instruction"]);
    b.tokens = cor({"exec", "tests/cache"}).out;
    return b;
  }
  int blob_count() { return count_entries(store.path() + "/oci/blobs/sha256"); }
};

TEST_F(BuildCacheTest, UnchangedRebuildIsFullyCachedAndGivesTheSameImage) {
  write_five_steps();
  Built first = build_json();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.cached, 0);
  EXPECT_EQ(first.tokens.size(), 64u) << first.tokens;

  // A touch of a file no step copies changes nothing.
  write("unrelated.txt", "edited, still not copied\n");
  int blobs = blob_count();
  Built again = build_json();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.cached, 3);  // both RUNs and the COPY
  EXPECT_EQ(again.tokens, first.tokens);
  EXPECT_EQ(again.digest, first.digest);
  EXPECT_EQ(blob_count(), blobs);  // not even a new config or manifest

  // A touch (new mtime, same content) of a copied file is no change either.
  run_sh("touch -d '2001-01-01' " + ctx() + "/app/main.txt");
  EXPECT_EQ(build_json().cached, 3);
}

TEST_F(BuildCacheTest, AChangedCopySourceRerunsThatStepAndTheOnesAfter) {
  write_five_steps();
  Built first = build_json();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  write("app/main.txt", "version 2\n");
  Built second = build_json();
  ASSERT_EQ(second.exit_code, 0) << second.err;
  // The first RUN (before the COPY) is cached; the COPY and the RUN after
  // it ran again.
  ASSERT_EQ(second.cached_steps.size(), 1u);
  EXPECT_EQ(second.cached_steps[0].rfind("RUN head -c 16 /dev/urandom", 0), 0u);
  EXPECT_EQ(second.tokens.substr(0, 32), first.tokens.substr(0, 32));
  EXPECT_NE(second.tokens.substr(32), first.tokens.substr(32));
  EXPECT_NE(second.digest, first.digest);
  EXPECT_EQ(cor({"exec", "tests/cache", "--", "cat", "/app/main.txt"}).out, "version 2\n");
}

TEST_F(BuildCacheTest, BuildArgsInScopeAndNoCacheRunTheStepsAgain) {
  write_five_steps();
  Built first = build_json();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // A build arg no ARG declares changes nothing, and is pointed out.
  auto unused = build({"--build-arg", "UNUSED=1", "-t", "tests/cache"});
  ASSERT_EQ(unused.exit_code, 0) << unused.err;
  EXPECT_NE(unused.err.find("--build-arg UNUSED"), std::string::npos) << unused.err;
  EXPECT_EQ(lines_with(unused.err, "[3/6] CACHED RUN").size(), 1u) << unused.err;
  // FLAVOUR is in scope of both RUNs: nothing after its ARG is reused.
  Built spicy = build_json({"--build-arg", "FLAVOUR=spicy"});
  ASSERT_EQ(spicy.exit_code, 0) << spicy.err;
  EXPECT_EQ(spicy.cached, 0);
  EXPECT_EQ(cor({"exec", "tests/cache", "--", "cat", "/flavour"}).out, "spicy\n");
  // Back to the default: all of the first build's steps are still there.
  EXPECT_EQ(build_json().cached, 3);

  Built fresh = build_json({"--no-cache"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(fresh.cached, 0);
  EXPECT_NE(fresh.tokens, first.tokens);
}

TEST_F(BuildCacheTest, TheStepListSaysCachedOnTheStepsLine) {
  write_five_steps();
  ASSERT_EQ(build({"-t", "tests/cache"}).exit_code, 0);
  auto r = build({"-t", "tests/cache"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[1/6] FROM default\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[4/6] CACHED COPY app/ /app/\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tagged docker.io/tests/cache:latest"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.rfind("sha256:", 0), 0u) << r.out;
}

TEST_F(BuildCacheTest, BuiltImagesAreReadByUmociAndSkopeo) {
  write("Dockerfile", R"(FROM default
RUN mkdir -p /srv/www && echo hello > /srv/www/index.html && rm /etc/nsswitch.conf
COPY --chmod=0600 app/ /srv/app/
CMD ["cat", "/srv/www/index.html"]
)");
  write("app/conf", "c\n");
  std::string archive = work.path() + "/image.tar";
  auto r = build({"-t", "tests/interop:1", "--output", "oci-archive:" + archive});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // skopeo reads both the archive and the store's layout.
  json info = json::parse(run_sh("skopeo inspect --config oci-archive:" + archive));
  EXPECT_EQ(info["config"]["Cmd"], json({"cat", "/srv/www/index.html"}));
  run_sh("skopeo inspect 'oci:" + store.path() + "/oci:docker.io/tests/interop:1' >/dev/null");
  // umoci unpacks it with the whiteout applied and the modes kept.
  std::string layout = work.path() + "/layout";
  run_sh("skopeo copy --quiet oci-archive:" + archive + " oci:" + layout + ":t");
  run_sh("umoci unpack --image " + layout + ":t " + work.path() + "/bundle >/dev/null");
  std::string rootfs = work.path() + "/bundle/rootfs";
  EXPECT_EQ(read_file(rootfs + "/srv/www/index.html"), "hello\n");
  struct stat st;
  EXPECT_NE(lstat((rootfs + "/etc/nsswitch.conf").c_str(), &st), 0);
  ASSERT_EQ(lstat((rootfs + "/srv/app/conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // And back into coracle from the archive, under another name.
  ASSERT_EQ(cor({"image", "import", archive, "--tag", "tests/reimported:1"}).exit_code, 0);
  EXPECT_EQ(cor({"exec", "tests/reimported:1"}).out, "hello\n");
}

TEST_F(BuildCacheTest, AFromOnlyInARegistryIsPulled) {
  RegistryServer reg;
  // An image made by coracle itself goes to the registry through skopeo.
  write("Dockerfile", "FROM default\nRUN echo from-the-registry > /origin\n");
  std::string archive = work.path() + "/base.tar";
  ASSERT_EQ(build({"--output", "oci-archive:" + archive}).exit_code, 0);
  reg.push("oci-archive:" + archive, "tests/base:1");
  TempDir fresh_store;
  write("Dockerfile", "FROM " + reg.host() + "/tests/base:1\nRUN cat /origin > /copy\n");
  auto r = coracle({"--root", fresh_store.path(), "build", "-t", "tests/child", ctx()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto run = coracle({"--root", fresh_store.path(), "exec", "tests/child", "--", "cat", "/copy"});
  EXPECT_EQ(run.out, "from-the-registry\n");
}

}  // namespace
}  // namespace coracle::test
