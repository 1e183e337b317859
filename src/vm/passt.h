// The guest's outbound network: passt (Debian package passt, the same
// project as pasta) on one end of a socketpair, qemu's virtio-net on the
// other. As with pasta for a sandbox: no port forwarding of its own, and
// the gateway is not the host (--no-map-gw), so the host's 127.0.0.1 is out
// of reach; DNS to kPastaDnsForward goes to the host's resolver.
#pragma once
#include <sys/types.h>

#include <string>

#include "common/unique_fd.h"

namespace coracle::vm {

// The guest's addresses on passt's network.
inline constexpr const char* kGuestAddress = "10.0.2.15";
inline constexpr const char* kGuestGateway = "10.0.2.2";
inline constexpr int kGuestPrefix = 24;

class Passt {
 public:
  // Starts passt; qemu_fd() is the end for qemu's `-netdev stream`.
  Passt();
  ~Passt();  // SIGKILL and reap
  Passt(const Passt&) = delete;
  Passt& operator=(const Passt&) = delete;
  int qemu_fd() const { return qemu_end_.get(); }
  void release_qemu_fd() { qemu_end_.reset(); }  // once qemu has it

 private:
  pid_t pid_ = -1;
  UniqueFd qemu_end_;
};

}  // namespace coracle::vm
