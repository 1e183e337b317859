// What the builder's tests share: a context directory, a store of their
// own, and readers of what a build left in it.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {

using nlohmann::json;

class BuildTest : public ::testing::Test {
 protected:
  TempDir work, store, context;
  const std::string& ctx() const { return context.path(); }

  // Writes a context file (parents made).
  void write(const std::string& rel, const std::string& content) {
    std::string path = ctx() + "/" + rel;
    mkdir_p(path.substr(0, path.find_last_of('/')));
    write_file_atomic(path, content);
  }
  RunResult cor(std::vector<std::string> args, const RunOptions& options = {}) {
    args.insert(args.begin(), {"--root", store.path()});
    return coracle(args, options);
  }
  // `coracle build ARGS CONTEXT`.
  RunResult build(std::vector<std::string> args, const std::string& context_dir = "") {
    args.insert(args.begin(), "build");
    args.push_back(context_dir.empty() ? ctx() : context_dir);
    return cor(args);
  }
  json inspect(const std::string& ref) {
    auto r = cor({"image", "inspect", ref});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? json::parse(r.out) : json::object();
  }
  json config_of(const std::string& ref) { return inspect(ref)["config"]; }
  json manifest_of(const std::string& ref) { return inspect(ref); }
  std::string manifest_digest(const std::string& ref) { return inspect(ref).value("digest", ""); }
  std::string blob(const std::string& digest) const {
    return store.path() + "/oci/blobs/sha256/" + digest.substr(7);
  }
  // Exports ref and has skopeo and umoci read it: the image is a valid OCI
  // image to other tools, not only to coracle. Returns umoci's rootfs.
  std::string expect_tools_accept(const std::string& ref) {
    std::string name = ref;
    for (auto& c : name)
      if (c == '/' || c == ':') c = '_';
    std::string archive = work.path() + "/" + name + ".tar";
    auto r = cor({"image", "export", ref, archive});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    run_sh("skopeo inspect oci-archive:" + archive + " >/dev/null");
    std::string layout = work.path() + "/" + name + "-layout";
    run_sh("skopeo copy --quiet oci-archive:" + archive + " oci:" + layout + ":t");
    std::string bundle = work.path() + "/" + name + "-bundle";
    run_sh("umoci unpack --image " + layout + ":t " + bundle + " >/dev/null");
    return bundle + "/rootfs";
  }
  // The --json events of a build, of one kind.
  static std::vector<json> events(const std::string& out, const std::string& kind) {
    std::vector<json> found;
    for (const auto& line : lines_with(out, "{")) {
      json j = json::parse(line);
      if (j["event"] == kind) found.push_back(j);
    }
    return found;
  }
};

}  // namespace coracle::test
