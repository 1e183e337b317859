// A tree written into a directory the user owns (the chain's result into
// the app folder), where anything may be hostile (a git checkout can carry
// symlinks) and the writer may be root:
//  - adds and overwrites, never deletes: a directory is never removed or
//    replaced; a type conflict (a file or symlink against a directory) is
//    an error before anything is written;
//  - every path under dest is opened with RESOLVE_BENEATH |
//    RESOLVE_NO_SYMLINKS: a symlink on the way is a conflict, never
//    followed;
//  - all or nothing: every conflict and every source file that cannot be
//    read is found first; every file is staged beside its place, then
//    renamed in; a failure before the renames removes what was staged;
//  - a file the destination already has exactly (size, mode, and mtime or
//    bytes) is left alone; no setuid/setgid bit is kept.
#pragma once
#include <map>
#include <string>

namespace coracle {

// Merges the tree at src into the directory dest_fd (dest_path names it in
// errors). files_dir (a top-level name, e.g. ".ayup") is not taken from
// src: it receives exactly files (name → content; regular files of it that
// files lacks are removed), made when files_dir_exists is false. Throws
// coracle::Error listing what stopped it, having written nothing.
void merge_tree(const std::string& src, int dest_fd, const std::string& dest_path,
                const std::string& files_dir, const std::map<std::string, std::string>& files,
                bool files_dir_exists);

}  // namespace coracle
