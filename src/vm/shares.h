// Host directories in the guest (/in, /out, -v): one virtiofsd (qemu's,
// /usr/lib/qemu/virtiofsd) per directory, reached by qemu over a unix
// socket. virtiofsd runs as host root, so everything the guest may do to
// the host's files is bounded here, as the host-write guard bounds a
// sandbox: no setuid or setgid bit can be set (the guard's seccomp filter
// on virtiofsd itself), no device node made (CAP_MKNOD dropped), and a
// read-only share is a read-only bind in virtiofsd's own mount namespace
// (the guest's mount flags are the guest's to change).
#pragma once
#include <sys/types.h>

#include <string>

namespace coracle::vm {

class VirtioFsShare {
 public:
  // Starts virtiofsd for source with its socket at socket_path.
  VirtioFsShare(const std::string& source, bool read_only, const std::string& socket_path);
  ~VirtioFsShare();  // SIGKILL and reap
  VirtioFsShare(const VirtioFsShare&) = delete;
  VirtioFsShare& operator=(const VirtioFsShare&) = delete;
  const std::string& socket_path() const { return socket_path_; }

 private:
  pid_t pid_ = -1;
  std::string socket_path_;
};

}  // namespace coracle::vm
