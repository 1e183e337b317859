// ADD <http(s) URL>, as BuildKit does it: the file is downloaded (never
// unpacked) under the last component of the URL's path ("__unnamed__" when
// it has none), mode 0600 unless --chmod says otherwise, its mtime from
// Last-Modified; --checksum=sha256:HEX must match the body or the build
// fails. The download obeys the build's network: none without one, never
// the host's own loopback unless the build has the host's network.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "sandbox/sandbox.h"

namespace coracle::builder {

// http:// or https://.
bool is_url_source(const std::string& source);
// A git repository as ADD would take one (refused by coracle build).
bool is_git_source(const std::string& source);

struct DownloadedFile {
  std::string name;    // the file's name in the image
  std::string path;    // where it is on the host (in the caller's dir)
  int64_t mtime = 0;   // Last-Modified, or the download's time
  std::string digest;  // sha256 of the body
};

// Downloads url into dir. Throws coracle::Error (prefixed with where) for a
// network the build does not have, a failed transfer, a status other than
// 200, a body larger than a layer entry may be, or a checksum mismatch.
DownloadedFile download_url(const std::string& url, const std::string& dir,
                            const std::optional<std::string>& checksum, sandbox::NetMode net,
                            const std::string& where);

}  // namespace coracle::builder
