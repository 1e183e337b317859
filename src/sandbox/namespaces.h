// Which namespaces a sandbox is cloned into: the ones clone3 makes, the
// ones joined by path (Spec::join_namespaces) and the runner's own that it
// keeps (Spec::shared_namespaces). Joining happens on the runner's thread
// just around clone3, because after CLONE_NEWUSER the child holds no
// capability over a namespace the host's user namespace owns.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

// Throws coracle::Error for a combination the sandbox cannot set up.
void check_namespaces(const Spec& spec);

// The CLONE_NEW* flags clone3 makes for spec (cgroup's decided by the
// runner, which may move the child first; the network's, which the child
// makes itself unless pasta needs it at once, left out).
uint64_t clone_namespace_flags(const Spec& spec);

// Does the sandbox get a network namespace of its own?
bool makes_network(const Spec& spec);
// A network namespace the runner's helper makes while the child mounts
// (netns_maker.h): every one of the sandbox's own but pasta's, which
// clone3 makes (pasta must find it at once).
bool makes_network_beside(const Spec& spec);
// Does it make its own namespace of this type (CLONE_NEWUTS, ...)?
bool makes_namespace(const Spec& spec, int type);

// The joined namespaces, opened when made (errors name the path); enter()
// moves the calling thread into them, leave() (or the destructor) back
// into the ones it had.
class JoinedNamespaces {
 public:
  explicit JoinedNamespaces(const Spec& spec);
  ~JoinedNamespaces() { leave(); }
  JoinedNamespaces(const JoinedNamespaces&) = delete;
  JoinedNamespaces& operator=(const JoinedNamespaces&) = delete;
  void enter();
  void leave() noexcept;

 private:
  struct Entry {
    int type;
    UniqueFd target, own;
  };
  std::vector<Entry> entries_;
  size_t entered_ = 0;
};

}  // namespace coracle::sandbox
