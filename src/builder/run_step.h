// A RUN step's command: what it runs (the shell form, the exec form, a
// heredoc, a heredoc script with its own interpreter), its run in the
// sandbox with the output streamed to the user and its last lines kept for
// the error message, and the mount points the layer must leave out.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/dockerfile/dockerfile.h"
#include "builder/layered_fs.h"
#include "sandbox/sandbox.h"

namespace coracle::builder {

struct RunOutcome {
  sandbox::Result result;
  std::string tail;  // the last few KiB of the output
};

struct RunCommand {
  std::vector<std::string> argv;
  // A lone heredoc that starts with #!: its text, as a file in the
  // sandbox's /dev (never in the layer) that argv runs.
  std::optional<sandbox::GeneratedFile> script_file;
};

// The command of a RUN whose stage's shell is shell. Throws coracle::Error
// (prefixed with at) for nothing to run.
RunCommand run_command_of(const Instruction& ins, const std::vector<std::string>& shell,
                          const std::string& at);

// Runs spec (its own upper dir set: the RUN's layer) through launch::run,
// handing its output to show as it comes.
RunOutcome run_step_command(const sandbox::Spec& spec, const std::string& store_root,
                            const std::function<void(std::string_view)>& show);

// Takes out of a RUN's upper dir what the sandbox made only to mount on
// where the stage (lower) had nothing: empty files for file_targets,
// empty directories for dir_targets, and their parents if left empty. The
// upper dir is the RUN's own work, so hostile: no symlink in it is
// followed.
void remove_mount_stubs(const std::string& upper, const LayeredFs& lower,
                        const std::vector<std::string>& file_targets,
                        const std::vector<std::string>& dir_targets);

}  // namespace coracle::builder
