#include "chain/assistants.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "image/reference.h"

namespace coracle::chain {
namespace {

bool valid_name(const std::string& n) {
  return !n.empty() && n.size() <= 128 && n[0] != '.' &&
         n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             std::string::npos;
}

// The names of the assistant folders in dir.
std::vector<std::string> folders(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& n : list_dir(dir))
    if (is_directory(dir + "/" + n) && is_regular_file(dir + "/" + n + "/name")) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

AssistantName parse_assistant_name(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos)
    throw Error("assistant name '" + text +
                "' has no type: use builtin:NAME, local:NAME or remote:NAME (see `coracle "
                "assistants list`)");
  AssistantName n{text.substr(0, colon), text.substr(colon + 1)};
  if (n.kind == "oci") {
    // oci:REFERENCE: an assistant artifact in a registry.
    if (!image::looks_like_reference(n.name))
      throw Error("assistant name '" + text + "': oci: takes an image reference");
    return n;
  }
  if (n.kind != "builtin" && n.kind != "local" && n.kind != "remote")
    throw Error("assistant name '" + text + "': the type must be builtin, local, remote or oci");
  if (!valid_name(n.name)) throw Error("assistant name '" + text + "': bad name after the ':'");
  return n;
}

namespace {

// A file of an assistant folder: a regular file directly in it, opened
// without following a symlink (a `name` linked to /etc/shadow is refused,
// not read). Empty when missing; throws when it is something else.
std::optional<std::string> assistant_file(int dir, const std::string& dir_path, const char* name) {
  std::string data;
  switch (read_regular_file_at(dir, name, dir_path + "/" + name, 1 << 20, data)) {
    case FileAt::Read:
      return data;
    case FileAt::Missing:
      return std::nullopt;
    case FileAt::Symlink:
      throw Error("assistant folder " + dir_path + ": `" + name +
                  "` is a symlink; an assistant's files must be its own");
    case FileAt::NotRegular:
      throw Error("assistant folder " + dir_path + ": `" + name + "` is not a regular file");
    case FileAt::TooLarge:
      break;
  }
  throw Error("assistant folder " + dir_path + ": `" + name + "` is larger than 1 MiB");
}

}  // namespace

ExternalAssistant load_assistant_dir(const std::string& dir, const std::string& full_name) {
  UniqueFd fd = open_directory(AT_FDCWD, dir, true);
  if (!fd) throw Error("assistant folder " + dir + " does not exist");
  ExternalAssistant a;
  a.full_name = full_name;
  a.dir = dir;
  // No error below quotes a file's content: whatever the folder holds
  // stays out of messages and logs.
  auto name = assistant_file(fd.get(), dir, "name");
  if (!name)
    throw Error("assistant folder " + dir + " has no `name` file (it holds the assistant's name)");
  a.name = trimmed(*name);
  if (!valid_name(a.name))
    throw Error(dir + "/name does not hold a valid assistant name (letters, digits, . _ -)");
  auto dockerfile = assistant_file(fd.get(), dir, "Dockerfile");
  if (auto image = assistant_file(fd.get(), dir, "image")) {
    a.image = trimmed(*image);
    if (a.image->empty()) throw Error(dir + "/image is empty: write an image reference in it");
  } else if (dockerfile) {
    // An assistant is run by its image's own command: say so now rather
    // than after a build.
    bool has_command = false;
    for (const auto& line : split(*dockerfile, '\n')) {
      std::string t = trimmed(line);
      for (auto& c : t) c = static_cast<char>(toupper(c));
      has_command |= t.rfind("ENTRYPOINT", 0) == 0 || t.rfind("CMD", 0) == 0;
    }
    if (!has_command)
      throw Error(dir +
                  "/Dockerfile has no ENTRYPOINT or CMD: the assistant would have nothing to run");
  } else {
    throw Error("assistant folder " + dir + " has neither a Dockerfile nor an `image` file");
  }
  if (auto env = assistant_file(fd.get(), dir, ".ayup-env")) {
    try {
      a.env = parse_env_file(*env);
    } catch (const Error&) {
      // The message would quote the line, and the file holds secrets.
      throw Error(dir + "/.ayup-env has a line that is not K=V");
    }
  }
  return a;
}

AssistantRegistry::AssistantRegistry(std::string store_root, std::string remote_dir)
    : local_dir_(store_root + "/assistants"), remote_dir_(std::move(remote_dir)) {}

bool AssistantRegistry::is_builtin(const AssistantName& n) {
  return n.kind == "builtin" && (n.name == "dockerfile" || n.name == "python" || n.name == "exec");
}

std::vector<std::string> AssistantRegistry::list() const {
  std::vector<std::string> out = {"builtin:dockerfile", "builtin:python", "builtin:exec"};
  for (const auto& n : folders(local_dir_)) out.push_back("local:" + n);
  if (!remote_dir_.empty())
    for (const auto& n : folders(remote_dir_)) out.push_back("remote:" + n);
  return out;
}

ExternalAssistant AssistantRegistry::find(const AssistantName& name) const {
  std::string base = name.kind == "local" ? local_dir_ : remote_dir_;
  std::string dir = base + "/" + name.name;
  if (name.kind == "builtin" || base.empty() || !is_regular_file(dir + "/name")) {
    std::string known;
    for (const auto& n : list()) known += "\n  " + n;
    throw Error("unknown assistant " + name.str() + "; the assistants are:" + known);
  }
  return load_assistant_dir(dir, name.str());
}

std::string AssistantRegistry::push(const std::string& dir) const {
  ExternalAssistant a = load_assistant_dir(dir, "");
  std::string target = local_dir_ + "/" + a.name;
  mkdir_p(local_dir_, 0700);
  // Staged beside its place and renamed in: a push never leaves half a copy.
  std::string tmp = make_unique_dir(local_dir_, ".tmp-" + a.name + "-");
  try {
    copy_tree(dir, tmp);
    remove_tree(target);
    rename_path(tmp, target);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  return "local:" + a.name;
}

bool AssistantRegistry::remove(const std::string& name) const {
  if (!valid_name(name)) return false;
  std::string dir = local_dir_ + "/" + name;
  if (!is_directory(dir)) return false;
  remove_tree(dir);
  return true;
}

std::string default_remote_dir() {
  if (const char* env = getenv("CORACLE_ASSISTANTS")) return env;
  std::string dir = executable_dir();
  if (dir.empty()) return {};
  for (const std::string& candidate : {dir + "/assistants", dir + "/../share/coracle/assistants"})
    if (is_directory(candidate)) return candidate;
  return {};
}

}  // namespace coracle::chain
