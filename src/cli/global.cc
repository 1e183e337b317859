#include <cstdlib>

#include "cli/commands.h"
#include "common/error.h"
#include "common/store_root.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

std::string GlobalOptions::store_root() const {
  return root.empty() ? default_store_root() : root;
}

bool GlobalOptions::use_overlay() const {
  std::string driver = storage_driver;
  if (driver.empty())
    if (const char* env = getenv("CORACLE_STORAGE_DRIVER")) driver = env;
  if (driver == "vfs") return false;
  if (driver == "overlay") return true;
  if (!driver.empty()) throw Error("CORACLE_STORAGE_DRIVER='" + driver + "': use overlay or vfs");
  return sandbox::overlay_supported();
}

}  // namespace coracle::cli
