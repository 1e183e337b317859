#include "builder/run_step.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "builder/builder.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "launch/run.h"

namespace coracle::builder {
namespace {

// "#!/usr/bin/awk -f": the interpreter and its one optional argument, as
// the kernel reads a shebang line.
std::vector<std::string> shebang_argv(const std::string& script, const std::string& at) {
  std::string line = script.substr(2, script.find('\n') - 2);
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos) throw Error(at + ": the heredoc's #! names no interpreter");
  size_t end = line.find_first_of(" \t", start);
  std::vector<std::string> argv = {line.substr(start, end - start)};
  size_t arg = end == std::string::npos ? end : line.find_first_not_of(" \t", end);
  if (arg != std::string::npos) {
    std::string rest = line.substr(arg);
    argv.push_back(rest.substr(0, rest.find_last_not_of(" \t\r") + 1));
  }
  return argv;
}

// An overlay directory that hides the one below (the RUN deleted and made
// it again): empty, it still means something.
bool is_opaque(int dir) {
  char v[2];
  for (const char* name : {"user.overlay.opaque", "trusted.overlay.opaque"})
    if (fgetxattr(dir, name, v, sizeof v) == 1 && v[0] == 'y') return true;
  return false;
}

// rel's leaf, when the stage lacks it (an empty regular file, or an empty
// directory), then each parent left empty: one the stage lacks was made
// for the mount point; one it has is a copy-up that says nothing unless
// it is opaque.
void remove_stub(int upper, const LayeredFs& lower, std::string rel, bool file) {
  if (lower.lookup("/" + rel)) return;
  bool leaf = true;
  while (!rel.empty()) {
    auto slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    std::string name = rel.substr(slash == std::string::npos ? 0 : slash + 1);
    UniqueFd dir(parent.empty() ? dup(upper)
                                : open_beneath(upper, parent.c_str(), O_RDONLY | O_DIRECTORY));
    if (!dir) return;
    if (leaf && file) {
      struct stat st;
      if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
          st.st_size != 0 || unlinkat(dir.get(), name.c_str(), 0) < 0)
        return;
    } else {
      if (!leaf && lower.lookup("/" + rel)) {
        UniqueFd self(
            openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!self || is_opaque(self.get())) return;
      }
      if (unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR) < 0) return;  // not empty: the RUN's
    }
    leaf = false;
    rel = parent;
  }
}

}  // namespace

RunCommand run_command_of(const Instruction& ins, const std::vector<std::string>& shell,
                          const std::string& at) {
  RunCommand cmd;
  if (ins.exec_form) {
    cmd.argv = *ins.exec_form;
  } else {
    std::string script = ins.args;
    // A heredoc goes back to the shell as written: it does the quoting and
    // expansion rules itself. A lone heredoc is the script; one that starts
    // with a shebang is run by its interpreter, as in BuildKit.
    std::string trimmed = script.substr(0, script.find_last_not_of(" \t") + 1);
    bool lone = ins.heredocs.size() == 1 && trimmed.rfind("<<", 0) == 0 &&
                trimmed.find_first_of(" \t") == std::string::npos;
    if (lone) {
      script = ins.heredocs[0].content;
    } else {
      for (const auto& h : ins.heredocs) script += "\n" + h.content + h.name;
    }
    if (lone && script.rfind("#!", 0) == 0) {
      cmd.argv = shebang_argv(script, at);
      cmd.script_file = sandbox::GeneratedFile{"/dev/.coracle-heredoc", script};
      cmd.argv.push_back(cmd.script_file->target);
    } else {
      cmd.argv = shell;
      cmd.argv.push_back(script);
    }
  }
  if (cmd.argv.empty()) throw Error(at + ": RUN needs a command");
  return cmd;
}

constexpr size_t kTailBytes = 4096;

namespace {

// The output shown as it comes, its last few KiB kept for the error.
class RunOutput : public launch::Observer {
 public:
  RunOutput(const std::function<void(std::string_view)>& show, std::string& tail)
      : show_(show), tail_(tail) {}
  void output(int, std::string_view data) override {
    show_(data);
    tail_.append(data);
    if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
  }

 private:
  const std::function<void(std::string_view)>& show_;
  std::string& tail_;
};

}  // namespace

RunOutcome run_step_command(const sandbox::Spec& spec, const std::string& store_root,
                            const std::function<void(std::string_view)>& show) {
  RunOutcome out;
  RunOutput output(show, out.tail);
  launch::Request run;
  run.spec = spec;
  run.store_root = store_root;
  run.capture_output = true;
  run.merge_output = true;
  out.result = launch::run(std::move(run), output).result;
  if (out.tail.size() > kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
  return out;
}

void remove_mount_stubs(const std::string& upper_dir, const LayeredFs& lower,
                        const std::vector<std::string>& file_targets,
                        const std::vector<std::string>& dir_targets) {
  UniqueFd upper = open_directory(AT_FDCWD, upper_dir);
  if (!upper) return;
  for (const auto& t : file_targets) remove_stub(upper.get(), lower, t.substr(1), true);
  for (const auto& t : dir_targets) remove_stub(upper.get(), lower, t.substr(1), false);
}

void grant_entitlement(BuildOptions::Entitlements& allow, const std::string& name) {
  if (name == "network.host") {
    allow.network_host = true;
    return;
  }
  if (name == "security.insecure")
    throw Error(
        "--allow security.insecure: coracle build has no insecure mode (RUN "
        "--security is refused)");
  throw Error("--allow " + name + ": unknown entitlement (network.host is the one there is)");
}

}  // namespace coracle::builder
