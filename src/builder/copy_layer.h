// COPY and ADD: their sources (the build context, another stage or an
// image) written as the entries of a layer, BuildKit's rules:
//  - a directory's contents are copied, not the directory itself;
//  - with several sources or a wildcard the destination must be a
//    directory (end in '/');
//  - context files belong to 0:0 unless --chown says otherwise; files from
//    a stage or image keep their owners;
//  - .dockerignore'd paths do not exist for COPY;
//  - a source may not leave the context: "../x" and symlinks pointing out
//    are refused;
//  - ADD unpacks a local tar archive (plain, gzip, bzip2, xz, zstd) into the
//    destination; a file downloaded from a URL is written as it is (0600
//    unless --chmod says otherwise, as BuildKit writes it).
// Parent directories of the destination that the image lacks are added
// (0755, root); the ones it has are left as they are.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "builder/add_url.h"
#include "builder/dockerfile/dockerignore.h"
#include "builder/layered_fs.h"
#include "image/tar_writer.h"

namespace coracle::builder {

struct CopyRequest {
  std::vector<std::string> sources;                    // expanded, as written
  std::string dest;                                    // expanded, absolute (WORKDIR applied)
  bool dest_is_dir = false;                            // ends in '/'
  std::optional<std::pair<uint32_t, uint32_t>> owner;  // --chown
  std::optional<uint32_t> mode;                        // --chmod
  bool unpack_archives = false;                        // ADD
  bool zero_mtimes = false;  // for the cache key: a touch alone changes nothing
  // Heredoc sources (COPY <<EOF): files made from the Dockerfile's text,
  // name → content, written 0644 (or --chmod).
  std::vector<std::pair<std::string, std::string>> inline_files;
  // ADD's http(s) sources: the URLs (copy_request_of), then the files
  // download_url made of them, written under their names.
  std::vector<std::string> urls;
  std::optional<std::string> checksum;  // ADD --checksum
  std::vector<DownloadedFile> downloads;
  std::string what;  // "Dockerfile:7" for errors
};

struct CopyFrom {
  const LayeredFs* fs;                   // the source tree
  bool is_context = false;               // the build context (one dir)
  const DockerIgnore* ignore = nullptr;  // with is_context
};

// Writes the request's entries to tar (not finished). target is the stage
// being built (for the destination's existing directories). Throws
// coracle::Error("WHAT: ...") for a missing source, a source outside the
// context, a bad destination.
void write_copy(const CopyRequest& request, const CopyFrom& from, const LayeredFs& target,
                image::TarWriter& tar);

// Directory entries (0755, owner or 0:0) for each component of dir (an
// absolute path) that target lacks, outermost first; made holds the ones
// already written and gains these.
void add_missing_dirs(const LayeredFs& target, const std::string& dir, image::TarWriter& tar,
                      const std::optional<std::pair<uint32_t, uint32_t>>& owner, int64_t mtime,
                      std::set<std::string>& made);

}  // namespace coracle::builder
