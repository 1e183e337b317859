// What a step changed in the app, as the step.changes event (the trees
// compared and the archive written by image/tree_diff.h).
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "image/tree_diff.h"

namespace coracle::chain {

using image::diff_trees;
using image::TreeChange;
using image::write_changes_archive;

// {"event": "step.changes", "step": N, "added": [...], "modified": [...],
//  "deleted": [...], "renamed": [...]}
nlohmann::json changes_event(int step, const std::vector<TreeChange>& changes);

}  // namespace coracle::chain
