#include "image/image_user.h"

#include <vector>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::image {
namespace {

bool is_number(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// The fields of the /etc/passwd or /etc/group line whose field `key` (0:
// name, 2: id) is value; empty if there is none.
std::vector<std::string> find_entry(const std::string& file, size_t key, const std::string& value) {
  for (const auto& line : split(file, '\n')) {
    auto fields = split(line, ':');
    if (fields.size() >= 4 && fields[key] == value) return fields;
  }
  return {};
}

}  // namespace

std::pair<uint32_t, uint32_t> parse_user(const std::string& text, const std::string& passwd,
                                         const std::string& group) {
  auto parts = split(text, ':');
  if (parts.size() > 2 || parts[0].empty())
    throw Error("invalid user '" + text + "': use UID[:GID] or NAME[:GROUP]");
  uint32_t uid, gid;
  if (is_number(parts[0])) {
    uid = static_cast<uint32_t>(parse_uint(parts[0], "user id"));
    // The primary group the image's passwd gives this uid, else gid = uid.
    auto pw = find_entry(passwd, 2, parts[0]);
    gid = !pw.empty() && is_number(pw[3]) ? static_cast<uint32_t>(parse_uint(pw[3], "group id"))
                                          : uid;
  } else {
    auto pw = find_entry(passwd, 0, parts[0]);
    if (pw.empty() || !is_number(pw[2]) || !is_number(pw[3]))
      throw Error("user '" + parts[0] + "' is not in the image's /etc/passwd");
    uid = static_cast<uint32_t>(parse_uint(pw[2], "user id"));
    gid = static_cast<uint32_t>(parse_uint(pw[3], "group id"));
  }
  if (parts.size() == 2) {
    if (is_number(parts[1])) {
      gid = static_cast<uint32_t>(parse_uint(parts[1], "group id"));
    } else {
      auto gr = find_entry(group, 0, parts[1]);
      if (gr.empty() || !is_number(gr[2]))
        throw Error("group '" + parts[1] + "' is not in the image's /etc/group");
      gid = static_cast<uint32_t>(parse_uint(gr[2], "group id"));
    }
  }
  return {uid, gid};
}

}  // namespace coracle::image
