#include "chain/step_changes.h"

#include <cstdio>

namespace coracle::chain {

nlohmann::json changes_event(int step, const std::vector<TreeChange>& changes) {
  using nlohmann::json;
  json ev = {{"event", "step.changes"},  {"step", step},
             {"added", json::array()},   {"modified", json::array()},
             {"deleted", json::array()}, {"renamed", json::array()}};
  char mode[8];
  for (const auto& c : changes) {
    snprintf(mode, sizeof mode, "%04o", c.mode);
    json e = {{"path", c.path}, {"type", std::string(1, c.type)}};
    e["mode"] = mode;
    if (c.type == 'f') {
      e["size"] = c.size;
      e["sha256"] = c.sha256;
    }
    switch (c.kind) {
      case TreeChange::Kind::kAdded:
        ev["added"].push_back(e);
        break;
      case TreeChange::Kind::kModified:
        e["content"] = c.content_changed;
        e["mode_changed"] = c.mode_changed;
        ev["modified"].push_back(e);
        break;
      case TreeChange::Kind::kDeleted:
        ev["deleted"].push_back(e);
        break;
      case TreeChange::Kind::kRenamed:
        e["from"] = c.from;
        ev["renamed"].push_back(e);
        break;
    }
  }
  return ev;
}

}  // namespace coracle::chain
