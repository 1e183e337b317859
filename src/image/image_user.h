// Users of an image: "1000", "1000:1000", or names looked up in the
// image's own /etc/passwd and /etc/group (a user's gid is its primary group).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace coracle::image {

// UID[:GID] or NAME[:GROUP] → uid, gid. Throws coracle::Error for a name
// the files do not have.
std::pair<uint32_t, uint32_t> parse_user(const std::string& text, const std::string& passwd = {},
                                         const std::string& group = {});

}  // namespace coracle::image
