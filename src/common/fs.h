// File helpers. The *_in_root functions resolve a path as if root_fd were "/"
// (openat2 RESOLVE_IN_ROOT), so a symlink planted in an image or a tar can
// never lead outside it. They allocate nothing and return -errno, so a
// freshly cloned sandbox child may call them.
#pragma once
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle {

// openat2(dir_fd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): path
// stays under dir_fd and no component may be a symlink (ELOOP). For what a
// user hands coracle (an app folder), where a symlink means someone else's
// file.
int open_beneath(int dir_fd, const char* path, int flags, mode_t mode = 0);
// openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
int open_in_root(int root_fd, const char* path, int flags, mode_t mode = 0);
// Creates every missing directory of path (mode 0755) inside root_fd and
// returns an O_PATH fd of the last one.
int mkdir_p_in_root(int root_fd, const char* path);
// Like mkdir_p_in_root for the parent, then opens (creating if missing) an
// empty regular file at path as O_PATH: a mount point for a file bind.
int touch_in_root(int root_fd, const char* path);

std::string read_file(const std::string& path);
// A regular file at path resolved inside root (RESOLVE_IN_ROOT: a symlink
// cannot lead out of root); nullopt when missing.
std::optional<std::string> read_file_in_root(const std::string& root, const std::string& path,
                                             size_t max_size = 16 << 20);
// What path is (symlinks followed); false when it does not exist.
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path, bool follow = true);
// The directory of the running binary (/proc/self/exe); empty if unknown.
std::string executable_dir();
// A new, empty directory in parent named prefix + a unique suffix (mkdtemp).
std::string make_unique_dir(const std::string& parent, const std::string& prefix);
// A path inside a root, lexically: "/a/./b/../c" is "/a/c", ".." never
// climbs above "/" (as RESOLVE_IN_ROOT resolves it), always absolute.
std::string clean_path(const std::string& path);
// path made absolute against the working directory (not resolved).
std::string absolute_path(const std::string& path);
// write(2) until all of data is written (EINTR retried); path names the
// file in the error.
void write_all(int fd, const void* data, size_t size, const std::string& path);
// Writes data to an existing file (e.g. a /proc or cgroup control file).
void write_file(const std::string& path, const std::string& data);
// Writes data to path through a temporary file and rename: all or nothing.
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644);
// The same for name in the open directory dir_fd (AT_FDCWD: a path); the
// temporary file is made without following a symlink, and removed on failure.
void write_file_atomic_at(int dir_fd, const std::string& name, const std::string& data,
                          mode_t mode = 0644);
// The directory name in dir_fd (AT_FDCWD: a path), O_RDONLY; without
// following a symlink unless follow. Empty, with errno set, when it cannot.
UniqueFd open_directory(int dir_fd, const std::string& name, bool follow = false);
// mkdirat(dir_fd, name, 0755); one that exists is fine. where names it.
void make_dir_at(int dir_fd, const std::string& name, const std::string& where);
void mkdir_p(const std::string& path, mode_t mode = 0755);
// Copies the tree at src into dst (made if missing): files, directories and
// symlinks, with their modes and mtimes. What dst already has of the same
// name is replaced; nothing else in dst is removed. Symlinks are copied,
// never followed. Top-level names of src in skip_top are left out.
void copy_tree(const std::string& src, const std::string& dst,
               const std::vector<std::string>& skip_top = {});
// The same from an open directory (src names it in errors).
void copy_tree_at(int src_fd, const std::string& src, const std::string& dst,
                  const std::vector<std::string>& skip_top = {});
// The mode bits a copy keeps: never setuid or setgid (a copy made by root
// must not hand anyone root's rights).
inline constexpr mode_t kCopiedModeBits = 01777;
// The regular files directly in dir (not below it; symlinks ignored), name
// → content; empty when dir does not exist. A file over max_size throws.
std::map<std::string, std::string> read_regular_files(const std::string& dir,
                                                      size_t max_size = 64 << 20);
// A regular file directly in dir_fd, never through a symlink: Read (into
// data), or why not. where names it in errors (other failures throw).
enum class FileAt { Read, Missing, Symlink, NotRegular, TooLarge };
FileAt read_regular_file_at(int dir_fd, const std::string& name, const std::string& where,
                            size_t max_size, std::string& data);
// The same in an open directory (dir names it in errors).
std::map<std::string, std::string> read_regular_files_at(int dir_fd, const std::string& dir,
                                                         size_t max_size = 64 << 20);
// The entry names of an open directory, sorted.
std::vector<std::string> list_dir_at(int dir_fd, const std::string& where);
// The entry names of dir, sorted (empty when it does not exist).
std::vector<std::string> list_dir(const std::string& dir);
// rename(2), with the paths in the error.
void rename_path(const std::string& from, const std::string& to);
// unlink(path); a missing file is not an error.
void remove_file(const std::string& path);
// rm -rf that never follows symlinks and stays on one file system.
void remove_tree(const std::string& path);
// The same for the entry name of the directory dir_fd.
void remove_tree_at(int dir_fd, const char* name);

}  // namespace coracle
