// Assistants as OCI artifacts through a real docker-registry: pack, push,
// skopeo reading and copying them unchanged, pull as local:NAME, and a
// chain running one straight from the registry (oci:REF); the folder's
// .ayup-env never travels.
#include <nlohmann/json.hpp>

#include "chain_fixture.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class AssistantArtifactTest : public ChainFixture {
 protected:
  RegistryServer reg;
  std::string helper() {
    std::string dir = assistant("helper",
                                "echo \"made by the artifact (token: $TOKEN)\" > "
                                "/out/app/made.txt\n");
    write_file_atomic(dir + "/.ayup-env", "TOKEN=never-travels-4d1e\n");
    write_file_atomic(dir + "/detects", "# what it is for\nrequirements.txt\n");
    return dir;
  }
};

TEST_F(AssistantArtifactTest, PushedPulledCopiedAndRunFromTheRegistry) {
  std::string ref = reg.host() + "/assistants/helper:1";
  auto r = cor({"assistants", "push", helper(), ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string digest = r.out.substr(0, r.out.find('\n'));

  // What skopeo sees: an artifact manifest, the empty config, a content
  // layer and a metadata layer, the digest coracle printed.
  std::string raw = run_sh("skopeo inspect --raw --tls-verify=false docker://" + ref);
  json m = json::parse(raw);
  EXPECT_EQ(m["artifactType"], "application/vnd.coracle.assistant.v1");
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
  ASSERT_EQ(m["layers"].size(), 2u);
  EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.coracle.assistant.content.v1.tar+gzip");
  EXPECT_EQ(m["layers"][1]["mediaType"], "application/vnd.coracle.assistant.metadata.v1+json");
  EXPECT_EQ(run_sh("printf %s '" + raw + "' | sha256sum | cut -c1-64"), digest.substr(7) + "\n");
  // The folder's files, without its secrets.
  std::string layer =
      store.path() + "/oci/blobs/sha256/" + m["layers"][0]["digest"].get<std::string>().substr(7);
  EXPECT_EQ(run_sh("tar -tzf " + layer + " | sort | tr '\\n' ' '"), "Dockerfile cmd detects name ");
  std::string meta =
      store.path() + "/oci/blobs/sha256/" + m["layers"][1]["digest"].get<std::string>().substr(7);
  EXPECT_EQ(json::parse(read_file(meta))["detects"], json({"requirements.txt"}));
  EXPECT_EQ(json::parse(read_file(meta))["name"], "helper");
  EXPECT_EQ(run_sh("grep -r -l never-travels " + store.path() + "/oci || true"), "");

  // skopeo copies it to another repository unchanged.
  std::string copy = reg.host() + "/elsewhere/helper:2";
  run_sh("skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false docker://" + ref +
         " docker://" + copy);
  EXPECT_EQ(run_sh("skopeo inspect --raw --tls-verify=false docker://" + copy), raw);

  // Another store runs it straight from the registry (pulled once, by
  // digest), and pulls it as local:helper.
  TempDir other;
  auto in_other = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--root", other.path()});
    return coracle(args);
  };
  r = in_other({"run", app(), "--assistant", "oci:" + copy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/made.txt"), "made by the artifact (token: )\n");
  r = in_other({"assistants", "pull", copy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "local:helper\n");
  EXPECT_FALSE(path_exists(other.path() + "/assistants/helper/.ayup-env"));
  EXPECT_EQ(read_file(other.path() + "/assistants/helper/name"), "helper\n");
  // An artifact is no image: exec says so.
  r = in_other({"exec", copy});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is an artifact"), std::string::npos) << r.err;
  // And an image is no assistant.
  reg.push(make_umoci_image(work.path()), "tests/image:1");
  r = in_other({"assistants", "pull", reg.host() + "/tests/image:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is not an artifact of type application/vnd.coracle.assistant.v1"),
            std::string::npos)
      << r.err;
}

TEST_F(AssistantArtifactTest, PackKeepsItInTheStore) {
  auto r = cor({"assistants", "pack", helper(), "--tag", "tests/helper-artifact:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("docker.io/tests/helper-artifact:1 sha256:", 0), 0u) << r.out;
  r = cor({"image", "ls"});
  EXPECT_NE(r.out.find("application/vnd.coracle.assistant.v1"), std::string::npos) << r.out;
  // Pushed later as any image is, by its name.
  r = cor({"image", "push", "tests/helper-artifact:1", reg.host() + "/later/helper:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace coracle::test
