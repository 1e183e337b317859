// OCI hooks that run in the container's own namespaces, by the sandbox's
// init: createContainer ones once the root is set up (their binary opened
// on the host before the clone, as runtime-spec resolves their path in the
// runtime's namespace), startContainer ones just before the command (path
// resolved inside). Each reads the container's state on stdin. Prepared by
// the parent (allocating); run by init without allocating.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

struct PreparedHook {
  UniqueFd binary;                // createContainer: opened on the host
  const char* path = nullptr;     // startContainer: looked up inside
  std::vector<char*> argv, envp;  // NULL-terminated, into the Spec's strings
  int timeout_s = 0;              // 0: none
};

// Throws coracle::Error for a hook binary that cannot be opened.
std::vector<PreparedHook> prepare_hooks(const std::vector<ContainerHook>& hooks, bool on_host);

// Child side: runs the hook with state on its stdin and waits for it (killed
// at its timeout). 0, or -errno (ETIMEDOUT; ECANCELED for a non-zero exit).
int run_prepared_hook(const PreparedHook& hook, const char* state, size_t state_len);

}  // namespace coracle::sandbox
