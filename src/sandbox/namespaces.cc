#include "sandbox/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include "common/error.h"

namespace coracle::sandbox {
namespace {

constexpr int kJoinable =
    CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;
constexpr int kShareable = CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;

const char* ns_file(int type) {
  switch (type) {
    case CLONE_NEWNET:
      return "net";
    case CLONE_NEWIPC:
      return "ipc";
    case CLONE_NEWUTS:
      return "uts";
    case CLONE_NEWPID:
      return "pid_for_children";
    case CLONE_NEWCGROUP:
      return "cgroup";
  }
  return nullptr;
}

int joined_types(const Spec& spec) {
  int types = 0;
  for (const auto& j : spec.join_namespaces) types |= j.type;
  return types;
}

}  // namespace

void check_namespaces(const Spec& spec) {
  int joined = 0;
  for (const auto& j : spec.join_namespaces) {
    if (!(j.type & kJoinable) || (j.type & (j.type - 1)))
      throw Error("a sandbox can join only network, ipc, uts, pid and cgroup namespaces");
    if (joined & j.type) throw Error("a namespace of one type joined twice");
    joined |= j.type;
  }
  if (spec.shared_namespaces & ~kShareable)
    throw Error("a sandbox can keep only the runner's ipc, uts, pid and cgroup namespaces");
  if (joined & spec.shared_namespaces)
    throw Error("a namespace both joined and kept from the runner");
  if ((joined & CLONE_NEWNET) && spec.net != NetMode::Private && spec.net != NetMode::None)
    throw Error("a joined network namespace cannot also be the host's or pasta's");
  // Made in a user namespace of the sandbox's own, /proc and /sys could not
  // be mounted for a pid or network namespace the host's user namespace owns.
  if (spec.user_namespace && (joined || (spec.shared_namespaces & CLONE_NEWPID)))
    throw Error(
        "joined namespaces and the host's pid namespace need a sandbox without a user "
        "namespace of its own");
  if (!spec.user_namespace && geteuid() != 0)
    throw Error("a sandbox without a user namespace of its own needs root");
}

bool makes_namespace(const Spec& spec, int type) {
  return !((joined_types(spec) | spec.shared_namespaces) & type);
}

bool makes_network(const Spec& spec) {
  return spec.net != NetMode::Host && makes_namespace(spec, CLONE_NEWNET);
}

bool makes_network_beside(const Spec& spec) {
  return makes_network(spec) && spec.net != NetMode::Pasta;
}

uint64_t clone_namespace_flags(const Spec& spec) {
  uint64_t flags = CLONE_NEWNS;
  if (spec.user_namespace) flags |= CLONE_NEWUSER;
  for (int type : {CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS})
    if (makes_namespace(spec, type)) flags |= static_cast<uint64_t>(type);
  if (spec.net == NetMode::Pasta) flags |= CLONE_NEWNET;
  return flags;
}

JoinedNamespaces::JoinedNamespaces(const Spec& spec) {
  for (const auto& j : spec.join_namespaces) {
    Entry e{j.type, UniqueFd(open(j.path.c_str(), O_RDONLY | O_CLOEXEC)), {}};
    if (!e.target) throw_errno("cannot open the namespace " + j.path);
    std::string own = std::string("/proc/thread-self/ns/") + ns_file(j.type);
    e.own.reset(open(own.c_str(), O_RDONLY | O_CLOEXEC));
    if (!e.own) throw_errno("cannot open " + own);
    entries_.push_back(std::move(e));
  }
}

void JoinedNamespaces::enter() {
  for (; entered_ < entries_.size(); ++entered_) {
    const Entry& e = entries_[entered_];
    if (setns(e.target.get(), e.type) < 0) {
      int err = errno;
      leave();
      throw_errno(std::string("cannot join the ") + ns_file(e.type) + " namespace", err);
    }
  }
}

void JoinedNamespaces::leave() noexcept {
  // A runner thread left in a sandbox's namespace would run whatever comes
  // next (another sandbox, a pull) there: better to stop.
  while (entered_ > 0) {
    const Entry& e = entries_[--entered_];
    if (setns(e.own.get(), e.type) < 0) abort();
  }
}

}  // namespace coracle::sandbox
