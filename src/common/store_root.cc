#include "common/store_root.h"

#include <unistd.h>

#include <cstdlib>

#include "common/error.h"

namespace coracle {

std::string default_store_root() {
  if (const char* env = std::getenv("CORACLE_ROOT"); env && *env) return env;
  if (geteuid() == 0) return "/var/lib/coracle";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
    return std::string(xdg) + "/coracle";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.local/share/coracle";
  throw Error("cannot find a store root: set --root, CORACLE_ROOT or HOME");
}

}  // namespace coracle
