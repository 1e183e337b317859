// Advisory whole-file locks (flock) between coracle processes sharing a
// store. flock, not fcntl locks: they belong to the open file, so a thread
// closing some other fd of the same file cannot drop them, and the kernel
// releases them when the process dies, even on SIGKILL.
#pragma once
#include <string>

#include "common/unique_fd.h"

namespace coracle {

class FileLock {
 public:
  enum class Mode { Shared, Exclusive };
  FileLock() = default;
  // Opens (creating) path and waits for the lock.
  FileLock(const std::string& path, Mode mode);
  // Locks an fd the caller already has open (e.g. a directory).
  static FileLock on_fd(UniqueFd fd, Mode mode);
  // Like on_fd, but gives up at once: an unlocked FileLock if another
  // process holds a conflicting lock.
  static FileLock try_on_fd(UniqueFd fd, Mode mode);
  // Like the constructor, but gives up at once: an unlocked FileLock if
  // another process holds a conflicting lock.
  static FileLock try_lock(const std::string& path, Mode mode);

  explicit operator bool() const { return static_cast<bool>(fd_); }
  void unlock() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace coracle
