// Assistant names and where external assistants come from:
//   builtin:NAME  part of coracle (dockerfile, exec)
//   local:NAME    pushed with `coracle assistants push PATH`: a copy of the
//                 folder under ROOT/assistants/NAME
//   remote:NAME   bundled: the `assistants/` folder installed beside the
//                 binary (or CORACLE_ASSISTANTS)
//   oci:REF       an assistant artifact in a registry (assistant_artifact.h),
//                 pulled when missing and laid out once per digest
// An external assistant is a folder with a `name` file and a Dockerfile
// (built with coracle's builder, the folder as context) or an `image` file
// holding a reference. Its `.ayup-env` (dotenv) is its environment.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace coracle::chain {

struct AssistantName {
  std::string kind;  // builtin, local, remote
  std::string name;
  std::string str() const { return kind + ":" + name; }
};

// "builtin:exec" → {builtin, exec}. Throws coracle::Error for a name
// without ':' or of an unknown kind.
AssistantName parse_assistant_name(const std::string& text);

struct ExternalAssistant {
  std::string full_name;             // local:NAME, remote:NAME, or the folder for --assistant PATH
  std::string dir;                   // the folder
  std::string name;                  // its `name` file
  std::optional<std::string> image;  // its `image` file, else its Dockerfile is built
  std::vector<std::string> env;      // .ayup-env, K=V (never printed)
};

// Reads and checks an assistant folder: a `name` file, and an `image`
// file or a Dockerfile with ENTRYPOINT or CMD. Throws naming the folder.
ExternalAssistant load_assistant_dir(const std::string& dir, const std::string& full_name);

class AssistantRegistry {
 public:
  AssistantRegistry(std::string store_root, std::string remote_dir);

  // builtin:dockerfile, builtin:exec, then local:* and remote:*, sorted.
  std::vector<std::string> list() const;
  // The folder of a local: or remote: assistant; throws listing what exists.
  ExternalAssistant find(const AssistantName& name) const;
  // Copies the folder in as local:NAME (NAME from its `name` file),
  // replacing one of that name. Returns the full name.
  std::string push(const std::string& dir) const;
  // Removes local:NAME; false when there is none.
  bool remove(const std::string& name) const;

  static bool is_builtin(const AssistantName& n);

 private:
  std::string local_dir_, remote_dir_;
};

// Where bundled assistants are: CORACLE_ASSISTANTS, else `assistants/`
// beside the binary, else ../share/coracle/assistants from it.
std::string default_remote_dir();

}  // namespace coracle::chain
