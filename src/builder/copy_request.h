// A COPY or ADD instruction read into a CopyRequest, as BuildKit reads it:
// its words expanded (the last is the destination, made absolute against
// WORKDIR; a trailing '/', "." or "/." makes it a directory), --chown looked
// up in the stage's own /etc/passwd and /etc/group, --chmod, heredoc
// sources turned into files, ADD's URL sources set aside for download
// (add_url.h). Flags coracle does not take are refused, naming the line.
#pragma once
#include <string>

#include "builder/copy_layer.h"
#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/shell_words.h"

namespace coracle::builder {

// Throws coracle::Error (prefixed with at) for a missing source or
// destination, a bad --chown or --chmod, a URL given to COPY or --checksum
// without one, a git repository, a flag coracle build does not take.
CopyRequest copy_request_of(const Instruction& ins, const ShellWords& words,
                            const ShellWords::Lookup& lookup, const LayeredFs& target,
                            const std::string& working_dir, const std::string& at);

}  // namespace coracle::builder
