// Keeping the store: `image gc` (what it frees, what it must keep: tagged
// images and layers under a running sandbox), `image export` in both
// archive formats read back by coracle, skopeo and umoci, and the limit on
// the size of a layer's entries.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class StoreMaintenance : public StoreTest {
 protected:
  // An image over the shared busybox base with one file of its own.
  void import(const std::string& name, const std::string& file) {
    json top = json::array({{{"name", file}, {"data", name}}});
    make_layout(work.path() + "/" + name, {{"tag", name}, {"layers", {busybox_layer(), top}}});
    auto r = cor({"image", "import", work.path() + "/" + name});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  json gc() {
    auto r = cor({"image", "gc", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
};

TEST_F(StoreMaintenance, GcFreesWhatNoTagReachesButNotWhatASandboxUses) {
  import("keep", "k");
  import("drop", "d");
  ASSERT_EQ(cor({"exec", "keep", "--", "cat", "/k"}).out, "keep");
  std::string blobs = store.path() + "/oci/blobs/sha256", layers = store.path() + "/layers";
  // Shared base: 1 layer blob; each image: manifest, config, top layer.
  EXPECT_EQ(count_entries(blobs), 7);
  EXPECT_EQ(gc()["blobs_removed"], 0);  // everything is tagged

  // A sandbox runs on "drop" while its tag goes and gc runs.
  int out = -1;
  pid_t pid = spawn_coracle(
      {"--root", store.path(), "exec", "drop", "--", "sh", "-c", "cat /d; echo; sleep 3; cat /d"},
      &out);
  ASSERT_NE(read_until(out, "drop\n").find("drop"), std::string::npos);
  EXPECT_EQ(count_entries(layers), 3);
  ASSERT_EQ(cor({"image", "rm", "drop"}).exit_code, 0);
  json r = gc();
  EXPECT_EQ(r["blobs_removed"], 3);   // drop's manifest, config and top layer
  EXPECT_EQ(r["layers_removed"], 0);  // its top layer is under the sandbox
  EXPECT_EQ(r["layers_in_use"], 1);
  EXPECT_EQ(count_entries(layers), 3);
  EXPECT_EQ(wait_coracle(pid), 0);
  close(out);

  r = gc();
  EXPECT_EQ(r["layers_removed"], 1);
  EXPECT_EQ(count_entries(layers), 2);
  EXPECT_EQ(count_entries(blobs), 4);
  // What is left still runs and is still a valid layout.
  EXPECT_EQ(cor({"exec", "keep", "--", "cat", "/k"}).out, "keep");
  run_sh("skopeo inspect oci:" + store.path() + "/oci:docker.io/library/keep:latest");
  EXPECT_EQ(cor({"exec", "--pull", "never", "drop", "--", "true"}).exit_code, 125);
}

TEST_F(StoreMaintenance, ExportedArchivesLoadInCoracleSkopeoAndUmoci) {
  import("exported", "e");
  for (const char* format : {"oci-archive", "docker-archive"}) {
    std::string tar = work.path() + "/" + format + ".tar";
    auto r = cor({"image", "export", "--format", format, "exported", tar});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    TempDir other;
    r = coracle({"--root", other.path(), "image", "import", tar, "--tag", "back:1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = coracle({"--root", other.path(), "exec", "back:1", "--", "cat", "/e"});
    EXPECT_EQ(r.out, "exported") << format << r.err;
    // skopeo reads it; umoci unpacks what skopeo made of it.
    std::string layout = work.path() + "/" + format + "-layout";
    std::string src = std::string(format) + ":" + tar;
    if (std::string(format) == "oci-archive") src += ":latest";
    run_sh("skopeo copy --quiet " + src + " oci:" + layout + ":t && umoci unpack --image " +
           layout + ":t " + layout + "-bundle >/dev/null");
    EXPECT_EQ(read_file(layout + "-bundle/rootfs/e"), "exported");
  }
  // A failed export leaves nothing behind.
  auto r = cor({"image", "export", "exported", work.path() + "/no/such/dir/x.tar"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(count_entries(work.path() + "/no"), -1);
  r = cor({"image", "export", "nothing-here", work.path() + "/x.tar"});
  EXPECT_EQ(r.exit_code, 125);
  struct stat st;
  EXPECT_NE(stat((work.path() + "/x.tar").c_str(), &st), 0);
}

TEST_F(StoreMaintenance, EntrySizeLimitIsConfigurable) {
  run_sh("head -c 2M /dev/zero > " + work.path() + "/two-mib");
  json top = json::array({{{"name", "big"}, {"source", work.path() + "/two-mib"}}});
  make_layout(work.path() + "/lay", {{"tag", "sized"}, {"layers", {busybox_layer(), top}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  auto r = cor({"--max-entry-size", "1m", "exec", "sized", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("over the limit"), std::string::npos) << r.err;
  // The base layer may have made it (layers unpack in parallel); the big
  // one did not, and nothing half-unpacked is left.
  EXPECT_LE(count_entries(store.path() + "/layers"), 1);
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
  RunOptions o;
  o.env = {"CORACLE_MAX_ENTRY_SIZE=1m"};
  r = coracle({"--root", store.path(), "image", "unpack", "sized", work.path() + "/flat"}, o);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("over the limit"), std::string::npos) << r.err;
  r = cor({"exec", "sized", "--", "stat", "-c", "%s", "/big"});
  EXPECT_EQ(r.out, "2097152\n") << r.err;
}

TEST_F(StoreMaintenance, WithoutOverlayImagesRunOnAPrivateFlattenedCopy) {
  json base = busybox_layer();
  base.push_back({{"name", "gone"}, {"data", "x"}});
  base.push_back({{"name", "owned"}, {"data", "o"}, {"uid", 1000}, {"gid", 1001}});
  json top = json::array({{{"name", ".wh.gone"}}, {{"name", "top"}, {"data", "t"}}});
  make_layout(work.path() + "/lay", {{"tag", "flat"}, {"layers", {base, top}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  std::string script =
      "test -e /gone && echo gone-still-there; cat /top; echo; stat -c %u:%g /owned; "
      "echo new > /top; cat /top";
  auto r = cor({"--storage-driver", "vfs", "exec", "flat", "--", "sh", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "t\n1000:1001\nnew\n");
  // The copy was this run's alone: gone afterwards, and the image unchanged.
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
  EXPECT_EQ(count_entries(store.path() + "/layers"), 2);
  RunOptions o;
  o.env = {"CORACLE_STORAGE_DRIVER=vfs"};
  r = coracle({"--root", store.path(), "exec", "flat", "--", "cat", "/top"}, o);
  EXPECT_EQ(r.out, "t") << r.err;
}

TEST_F(StoreMaintenance, UncompressedLayersRun) {
  json top = json::array({{{"name", "plain"}, {"data", "plain tar"}}});
  make_layout(work.path() + "/lay",
              {{"tag", "plain"}, {"compress", "none"}, {"layers", {busybox_layer(), top}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  auto inspect = json::parse(cor({"image", "inspect", "plain"}).out);
  EXPECT_EQ(inspect["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(cor({"exec", "plain", "--", "cat", "/plain"}).out, "plain tar");
}

// Where the store's reaper cannot run (its lock file cannot be opened:
// here a directory has its name), a run removes its writable layer itself:
// nothing of it is left behind, and nothing waits for a reaper.
TEST_F(StoreMaintenance, WithoutAReaperARunRemovesItsOwnLayer) {
  ASSERT_EQ(cor({"image", "ls"}).exit_code, 0);  // the store, and no run yet
  mkdir_p(store.path() + "/locks/tmp-reaper");
  for (int i = 0; i < 3; ++i) {
    auto r = cor({"exec", "--", "sh", "-c", "echo x > /f"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(count_entries(store.path() + "/tmp"), 0);  // at once, not eventually
  }
}

// Entries of dir whose names start with prefix.
std::vector<std::string> entries_named(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d))
    if (std::string(e->d_name).rfind(prefix, 0) == 0) out.emplace_back(e->d_name);
  closedir(d);
  return out;
}

// A store left quiet keeps one emptied layer for the next run (which then
// makes no directories on its path), and nothing else; that run claims it,
// and what it wrote is gone from the spare its release leaves.
TEST_F(StoreMaintenance, AQuietStoreKeepsOneEmptyLayerForTheNextRun) {
  for (int i = 0; i < 3; ++i) {
    auto r = cor({"exec", "--", "sh", "-c", "echo x > /f"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string tmp = store.path() + "/tmp";
  // The reaper leaves two quiet seconds after the last release.
  std::vector<std::string> spares;
  for (int i = 0; i < 100; ++i) {
    usleep(50000);
    spares = entries_named(tmp, "spare-");
    // (the reaper's command line is its run's, naming this store; "[/]"
    // keeps pgrep's own shell from matching)
    if (spares.size() == 1 && count_entries(tmp) == 1 &&
        run_sh("pgrep -f -- '[/]" + store.path().substr(1) + "' || true").empty())
      break;
  }
  ASSERT_EQ(spares.size(), 1u);
  EXPECT_EQ(count_entries(tmp), 1);
  EXPECT_EQ(count_entries(tmp + "/" + spares[0] + "/upper"), 0);
  // The next run takes it (it is gone under its name while the run holds
  // it) and sees nothing of the runs before.
  auto r = cor({"exec", "--", "sh", "-c", "ls /f 2>&1"});
  EXPECT_NE(r.out.find("No such file"), std::string::npos) << r.out;
  EXPECT_FALSE(is_directory(tmp + "/" + spares[0]));
}

}  // namespace
}  // namespace coracle::test
