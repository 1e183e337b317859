// The image store through the real binary: import of OCI layouts,
// oci-archives and docker-archives (made by tests/fixtures/make_layout.py
// and by skopeo), layer unpacking with whiteouts, hostile layers, tampered
// blobs, the image config applied by `exec IMAGE`, and interop with skopeo.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class ImageTest : public StoreTest {
 protected:
  // Imports a layout made from spec under the name t.
  RunResult import_spec(const json& spec, const std::string& name = "lay") {
    std::string dir = work.path() + "/" + name;
    make_layout(dir, spec);
    return cor({"image", "import", dir});
  }
};

json two_layer_image() {
  json base = busybox_layer();
  base.push_back({{"name", "gone"}, {"type", "dir"}});
  base.push_back({{"name", "gone/f"}, {"data", "x"}});
  base.push_back({{"name", "keep"}, {"type", "dir"}});
  base.push_back({{"name", "keep/old"}, {"data", "old"}});
  base.push_back({{"name", "owned"}, {"data", "o"}, {"uid", 1000}, {"gid", 1001}});
  base.push_back({{"name", "suid"}, {"data", "s"}, {"mode", 04755}});
  json top = json::array();
  top.push_back({{"name", ".wh.gone"}});
  top.push_back({{"name", "keep/.wh..wh..opq"}});
  top.push_back({{"name", "keep/new"}, {"data", "new"}});
  top.push_back({{"name", "hard"}, {"type", "hardlink"}, {"target", "keep/new"}});
  return {{"tag", "two:1"}, {"layers", {base, top}}, {"cmd", {"/bin/sh", "-c", "echo from-cmd"}}};
}

TEST_F(ImageTest, ImportedLayoutRunsWithWhiteoutsAndOpaqueDirs) {
  auto r = import_spec(two_layer_image());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported docker.io/library/two:1\n");
  r = cor({"exec", "two:1", "--", "/bin/sh", "-c",
           "ls /keep; test -e /gone || echo gone-is-gone; cat /hard; stat -c '%u:%g %a' /owned "
           "/suid"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "new\ngone-is-gone\nnew1000:1001 644\n0:0 4755\n");
  // The image's own command.
  r = cor({"exec", "two:1"});
  EXPECT_EQ(r.out, "from-cmd\n") << r.err;
  // Two layers, each its own directory, each unpacked once.
  EXPECT_EQ(count_entries(store.path() + "/layers"), 2);
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

TEST_F(ImageTest, UnpackFlattensLikeUmoci) {
  ASSERT_EQ(import_spec(two_layer_image()).exit_code, 0);
  std::string dest = work.path() + "/flat";
  auto r = cor({"image", "unpack", "two:1", dest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(exists(dest + "/gone"));
  EXPECT_FALSE(exists(dest + "/keep/old"));
  EXPECT_EQ(read_file(dest + "/keep/new"), "new");
  struct stat a, b;
  ASSERT_EQ(stat((dest + "/hard").c_str(), &a), 0);
  ASSERT_EQ(stat((dest + "/keep/new").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "hardlink";
  ASSERT_EQ(stat((dest + "/owned").c_str(), &a), 0);
  EXPECT_EQ(a.st_uid, 1000u);
  EXPECT_EQ(a.st_gid, 1001u);
  ASSERT_EQ(stat((dest + "/suid").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 04755u);
  EXPECT_NE(cor({"image", "unpack", "two:1", dest}).exit_code, 0) << "not empty any more";
}

TEST_F(ImageTest, ImageConfigIsApplied) {
  json spec = {{"tag", "cfg"},
               {"layers", {busybox_layer()}},
               {"entrypoint", {"/bin/sh", "-c"}},
               {"cmd", {"echo default"}},
               {"env", {"GREETING=hi", "PATH=/bin"}},
               {"user", "app:wheel"},
               {"workdir", "/work/dir"}};
  ASSERT_EQ(import_spec(spec).exit_code, 0);
  auto r = cor({"exec", "cfg"});
  EXPECT_EQ(r.out, "default\n") << r.err;
  r = cor({"exec", "cfg", "--", "echo $GREETING $PATH; id -u; id -g; pwd"});
  EXPECT_EQ(r.out, "hi /bin\n1000\n10\n/work/dir\n") << r.err;
  r = cor({"exec", "-u", "0", "-w", "/", "-e", "GREETING=yo", "cfg", "--",
           "echo $GREETING; id -u; pwd"});
  EXPECT_EQ(r.out, "yo\n0\n/\n") << r.err;
}

TEST_F(ImageTest, SkopeoArchivesImportAndStoreIsReadableBySkopeo) {
  ASSERT_EQ(import_spec(two_layer_image()).exit_code, 0);
  std::string lay = work.path() + "/lay";
  run_sh("skopeo copy -q oci:" + lay + ":two:1 oci-archive:" + work.path() + "/o.tar");
  run_sh("skopeo copy -q oci:" + lay + ":two:1 docker-archive:" + work.path() +
         "/d.tar:example.com/d:7");
  auto r = cor({"image", "import", work.path() + "/o.tar", "--tag", "from-oci-archive"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cor({"image", "import", work.path() + "/d.tar"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported example.com/d:7\n");
  for (const char* name : {"from-oci-archive", "example.com/d:7"}) {
    r = cor({"exec", name, "--", "/bin/sh", "-c", "ls /keep"});
    EXPECT_EQ(r.out, "new\n") << name << ": " << r.err;
  }
  // The store is an OCI layout skopeo reads, by the full name.
  std::string out =
      run_sh("skopeo inspect --raw oci:" + store.path() + "/oci:docker.io/library/two:1");
  EXPECT_NE(out.find("\"layers\""), std::string::npos) << out;
  r = cor({"image", "ls", "--json"});
  auto list = json::parse(r.out);
  EXPECT_EQ(list.size(), 3u);
}

TEST_F(ImageTest, TagAndRemove) {
  ASSERT_EQ(import_spec(two_layer_image()).exit_code, 0);
  EXPECT_EQ(cor({"image", "tag", "two:1", "other/name:2"}).exit_code, 0);
  EXPECT_EQ(cor({"exec", "other/name:2", "--", "cat", "/keep/new"}).out, "new");
  EXPECT_EQ(cor({"image", "rm", "two:1"}).exit_code, 0);
  auto r = cor({"exec", "two:1", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("image docker.io/library/two:1 is not in the store"), std::string::npos)
      << r.err;
  r = cor({"exec", "--pull", "never", "two:1", "--", "true"});
  EXPECT_NE(r.err.find("coracle image pull docker.io/library/two:1"), std::string::npos) << r.err;
  EXPECT_EQ(cor({"image", "rm", "two:1"}).exit_code, 125);
}

TEST_F(ImageTest, ImagesAreNamedAsPodmanNamesThemAndByAnyUniqueDigestPrefix) {
  // A layout whose ref.name is only a tag: localhost/FOLDER:TAG.
  json spec = two_layer_image();
  spec["tag"] = "latest";
  auto r = import_spec(spec, "My_App");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported localhost/my_app:latest\n");
  auto inspect = json::parse(cor({"image", "inspect", "localhost/my_app:latest"}).out);
  std::string manifest = inspect["digest"], config = inspect["config_digest"];
  // The manifest's digest or the config's (docker's image ID), whole or
  // any unique prefix, with or without sha256:.
  for (const std::string& id :
       {manifest, manifest.substr(7, 12), config.substr(0, 7 + 6), config.substr(7, 8)})
    EXPECT_EQ(cor({"exec", id, "--", "cat", "/keep/new"}).out, "new") << id;
  // An image that lost its names is named again by its digest.
  ASSERT_EQ(cor({"image", "rm", "localhost/my_app:latest"}).exit_code, 0);
  r = cor({"image", "tag", manifest.substr(0, 7 + 10), "again:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", "again:1", "--", "cat", "/keep/new"}).out, "new");
  // A digest that is not there says so (no repository called sha256).
  r = cor({"image", "tag", "sha256:0123456789", "x:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("no image in the store has a digest starting with sha256:0123456789"),
            std::string::npos)
      << r.err;
  // rm by ID removes every name of it.
  ASSERT_EQ(cor({"image", "tag", "again:1", "more:2"}).exit_code, 0);
  r = cor({"image", "rm", manifest.substr(7, 12)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("removed docker.io/library/again:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed docker.io/library/more:2"), std::string::npos) << r.out;
  // `image ls`: the columns stay in line under a long name.
  std::string long_name = "registry.example.com/a/very/long/path/of/an/image/name:with-a-long-tag";
  ASSERT_EQ(cor({"image", "tag", manifest, long_name}).exit_code, 0);
  ASSERT_EQ(cor({"image", "tag", manifest, "short:1"}).exit_code, 0);
  std::string ls = cor({"image", "ls"}).out;
  size_t id_column = std::string::npos;
  for (const auto& line : lines_with(ls, "")) {
    if (line.empty()) continue;
    size_t col = line.find(line.rfind("NAME", 0) == 0 ? "ID" : manifest.substr(7, 12));
    if (id_column == std::string::npos) id_column = col;
    EXPECT_EQ(col, id_column) << ls;
  }
}

TEST_F(ImageTest, TamperedBlobIsRefusedAndTheStoreGainsNothing) {
  std::string dir = work.path() + "/lay";
  make_layout(dir, two_layer_image());
  // Flip a byte of the biggest blob (the busybox layer).
  std::string biggest;
  off_t size = 0;
  DIR* d = opendir((dir + "/blobs/sha256").c_str());
  while (auto* e = readdir(d)) {
    struct stat st;
    std::string p = dir + "/blobs/sha256/" + e->d_name;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > size) {
      size = st.st_size;
      biggest = p;
    }
  }
  closedir(d);
  std::string data = read_file(biggest);
  data[data.size() / 2] ^= 1;
  write_file_atomic(biggest, data);
  auto r = cor({"image", "import", dir});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("does not match its digest"), std::string::npos) << r.err;
  EXPECT_EQ(count_entries(store.path() + "/oci/blobs/sha256"), 0);
  EXPECT_EQ(read_file(store.path() + "/oci/index.json").find("two"), std::string::npos);
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

TEST_F(ImageTest, WrongDiffIdIsRefusedAtUnpack) {
  json spec = two_layer_image();
  spec["bad_diff_id"] = true;
  ASSERT_EQ(import_spec(spec).exit_code, 0);
  auto r = cor({"exec", "two:1", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("tampered"), std::string::npos) << r.err;
  // The good bottom layer may stay cached; the bad one never appears.
  EXPECT_LE(count_entries(store.path() + "/layers"), 1);
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

// Each hostile layer: refused with a message naming the entry, or contained
// inside the layer; nothing is written outside, nothing half-done is kept.
struct Hostile {
  const char* name;
  json entries;
  const char* error;  // expected in the message; nullptr: contained, exec works
};

class HostileLayerTest : public ImageTest, public ::testing::WithParamInterface<int> {};

std::vector<Hostile> hostile_cases(const std::string& victim) {
  return {
      {"dotdot", json::array({{{"name", "../../../../.." + victim}, {"data", "pwned"}}}),
       "contains '..'"},
      {"absolute", json::array({{{"name", victim}, {"data", "contained"}}}), nullptr},
      {"symlink-then-write",
       json::array({{{"name", "esc"}, {"type", "symlink"}, {"target", "/"}},
                    {{"name", "esc" + victim}, {"data", "contained"}}}),
       nullptr},
      {"relative-symlink-then-write",
       json::array({{{"name", "esc"}, {"type", "symlink"}, {"target", "../../../../../../"}},
                    {{"name", "esc" + victim}, {"data", "contained"}}}),
       nullptr},
      {"hardlink-outside",
       json::array({{{"name", "pw"}, {"type", "hardlink"}, {"target", "/etc/hostname"}}}),
       "is not in this layer"},
      {"hardlink-dotdot",
       json::array({{{"name", "pw"}, {"type", "hardlink"}, {"target", "../../etc/hostname"}}}),
       "invalid target"},
      {"whiteout-dotdot", json::array({{{"name", "bin/.wh.."}}}), "whiteout of an invalid name"},
      {"device", json::array({{{"name", "mem"}, {"type", "chardev"}}}), nullptr},
  };
}

TEST_P(HostileLayerTest, IsRefusedOrContained) {
  // A host path that must never be written (outside /tmp, which is a fresh
  // tmpfs inside the sandbox, so that a contained copy is seen there).
  std::string victim = "/var/tmp/coracle-hostile-" + std::to_string(getpid());
  unlink(victim.c_str());
  Hostile h = hostile_cases(victim)[GetParam()];
  json spec = {{"tag", "bad"}, {"layers", {busybox_layer(), h.entries}}};
  ASSERT_EQ(import_spec(spec).exit_code, 0);
  auto r =
      cor({"exec", "bad", "--", "/bin/sh", "-c", "cat " + victim + " 2>/dev/null; ls /mem 2>&1"});
  EXPECT_FALSE(exists(victim)) << h.name << ": wrote outside the layer";
  unlink(victim.c_str());
  if (h.error) {
    EXPECT_EQ(r.exit_code, 125) << h.name;
    EXPECT_NE(r.err.find(h.error), std::string::npos) << h.name << ": " << r.err;
    EXPECT_EQ(count_entries(store.path() + "/layers"), 1) << "only the good base layer";
  } else {
    EXPECT_EQ(r.err, "") << h.name;
    if (std::string(h.name) != "device")
      EXPECT_NE(r.out.find("contained"), std::string::npos);
    else
      EXPECT_NE(r.out.find("No such file"), std::string::npos) << "devices are not created";
  }
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0) << h.name;
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileLayerTest, ::testing::Range(0, 8), [](const auto& info) {
  std::string n = hostile_cases("/x")[info.param].name;
  for (auto& c : n)
    if (c == '-') c = '_';
  return n;
});

TEST_F(ImageTest, ConcurrentFirstRunsUnpackOnce) {
  ASSERT_EQ(import_spec(two_layer_image()).exit_code, 0);
  std::vector<std::thread> runs;
  std::vector<RunResult> results(4);
  for (int i = 0; i < 4; ++i)
    runs.emplace_back([&, i] { results[i] = cor({"exec", "two:1", "--", "cat", "/keep/new"}); });
  for (auto& t : runs) t.join();
  for (const auto& r : results) EXPECT_EQ(r.out, "new") << r.err;
  EXPECT_EQ(count_entries(store.path() + "/layers"), 2);
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

TEST_F(ImageTest, BrokenInputsGiveClearErrors) {
  auto r = cor({"image", "import", work.path() + "/nothing"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("nothing"), std::string::npos) << r.err;
  write_file_atomic(work.path() + "/junk.tar", std::string(10000, 'x'));
  r = cor({"image", "import", work.path() + "/junk.tar"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("junk.tar"), std::string::npos) << r.err;
  r = cor({"exec", "Bad_Name", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("invalid image reference"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test
