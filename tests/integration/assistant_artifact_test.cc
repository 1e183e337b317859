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

// An artifact a hostile registry serves: its metadata names the assistant
// with terminal escapes (OSC 52 writes the clipboard, OSC 0 the title,
// CSI 2J clears the screen, and an 8-bit CSI). Written as an OCI layout by
// hand, then copied in with skopeo.
std::string push_hostile_artifact(const RegistryServer& reg, const std::string& dir) {
  write_file_atomic(dir + "/make.py", R"PY(
import hashlib, json, os, sys
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data, media):
    d = hashlib.sha256(data).hexdigest()
    open(out + "/blobs/sha256/" + d, "wb").write(data)
    return {"mediaType": media, "digest": "sha256:" + d, "size": len(data)}
name = "\x1b]52;c;c3RvbGVu\x07\x1b]0;owned\x07\x1b[2J\u009b31mhelper"
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": "application/vnd.coracle.assistant.v1",
    "config": blob(b"{}", "application/vnd.oci.empty.v1+json"),
    "layers": [blob(b"not a tar", "application/vnd.coracle.assistant.content.v1.tar+gzip"),
               blob(json.dumps({"name": name, "abi": "ayup"}).encode(),
                    "application/vnd.coracle.assistant.metadata.v1+json")]}
m = blob(json.dumps(manifest).encode(), manifest["mediaType"])
m["annotations"] = {"org.opencontainers.image.ref.name": "1"}
json.dump({"schemaVersion": 2, "manifests": [m]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
)PY");
  run_sh("python3 " + dir + "/make.py " + dir + "/layout");
  std::string ref = reg.host() + "/assistants/hostile:1";
  run_sh("skopeo copy --quiet --dest-tls-verify=false oci:" + dir + "/layout:1 docker://" + ref);
  return ref;
}

TEST_F(AssistantArtifactTest, AHostileNameReachesTheTerminalOnlySanitised) {
  std::string ref = push_hostile_artifact(reg, work.path());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"assistants", "pull", ref}, {"run", app(), "--assistant", "oci:" + ref}}) {
    auto r = cor(args);
    EXPECT_EQ(r.exit_code, 125) << args[0];
    EXPECT_NE(r.err.find("is not a plain name"), std::string::npos) << r.err;
    // No escape, BEL or C1 byte of the name's reached stderr; what was
    // printable of it did.
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << args[0];
    EXPECT_EQ(r.err.find('\x07'), std::string::npos) << args[0];
    EXPECT_EQ(r.err.find("\xc2\x9b"), std::string::npos) << args[0];
    EXPECT_NE(r.err.find("?31mhelper"), std::string::npos) << r.err;
  }
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
