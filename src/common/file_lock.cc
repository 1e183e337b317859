#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include "common/error.h"

namespace coracle {
namespace {

int op(FileLock::Mode mode) {
  return mode == FileLock::Mode::Shared ? LOCK_SH : LOCK_EX;
}

UniqueFd open_lock_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw_errno("cannot open lock file " + path);
  return fd;
}

}  // namespace

FileLock::FileLock(const std::string& path, Mode mode) : fd_(open_lock_file(path)) {
  int rc;
  do rc = flock(fd_.get(), op(mode));
  while (rc < 0 && errno == EINTR);
  if (rc < 0) throw_errno("cannot lock " + path);
}

FileLock FileLock::on_fd(UniqueFd fd, Mode mode) {
  int rc;
  do rc = flock(fd.get(), op(mode));
  while (rc < 0 && errno == EINTR);
  if (rc < 0) throw_errno("cannot take a file lock");
  FileLock lock;
  lock.fd_ = std::move(fd);
  return lock;
}

FileLock FileLock::try_lock(const std::string& path, Mode mode) {
  return try_on_fd(open_lock_file(path), mode);
}

FileLock FileLock::try_on_fd(UniqueFd fd, Mode mode) {
  FileLock lock;
  if (flock(fd.get(), op(mode) | LOCK_NB) == 0)
    lock.fd_ = std::move(fd);
  else if (errno != EWOULDBLOCK)
    throw_errno("cannot take a file lock");
  return lock;
}

}  // namespace coracle
