#include "cli/commands.h"
#include "common/store_root.h"

namespace coracle::cli {

std::string GlobalOptions::store_root() const {
  return root.empty() ? default_store_root() : root;
}

}  // namespace coracle::cli
